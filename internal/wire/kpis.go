package wire

import (
	lc "livechat/gen/livechat"
	"livechat/internal/chat"
)

// KPIs is the live KPIs on the wire (analytics_update, and the REST
// live-kpis answer).
func KPIs(k chat.KPIs) lc.AnalyticsUpdatePayloadSchema {
	return lc.AnalyticsUpdatePayloadSchema{
		Waiting: int64(k.Waiting), Active: int64(k.Active), OnlineOperators: int64(k.OnlineOperators), SessionsToday: int64(k.SessionsToday),
		AvgFirstResponseSeconds: k.AvgFirstResponse, AvgResolutionSeconds: k.AvgResolution, AvgQueueWaitSeconds: k.AvgQueueWait,
		CsatAverage: k.CSATAverage, CsatPercentage: k.CSATPercentage, FcrRate: k.FCRRate, AbandonmentRate: k.AbandonmentRate,
		SlaBreachEvents24h: int64(k.SLABreaches24h), HumanModeUsers: int64(k.HumanModeUsers), Timestamp: k.At.UTC(),
	}
}

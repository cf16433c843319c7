package outbox

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"livechat/internal/chat"
	"livechat/internal/line"
)

// NoTokenReason is what the sender sees when the server has no LINE
// channel access token: it runs, but cannot deliver.
const NoTokenReason = "LINE channel token not configured"

// verdict is what a push's result means for the message.
type verdict struct {
	status     chat.DeliveryStatus // sent, failed, or pending (retry)
	reason     string              // shown to the operator; never the message text
	retryAfter time.Duration       // LINE's Retry-After on 429
	retryable  bool                // failed: may a resend succeed?
}

// classify follows LINE's "Retrying a failed API request": retry 5xx,
// timeouts and 429 (after Retry-After) with the same retry key; 409 means
// an earlier attempt with this key was accepted; any other 4xx is final.
func classify(err error) verdict {
	if err == nil {
		return verdict{status: chat.DeliverySent}
	}
	if errors.Is(err, line.ErrNoToken) {
		return verdict{status: chat.DeliveryFailed, reason: NoTokenReason}
	}
	var ae *line.APIError
	if errors.As(err, &ae) {
		switch {
		case ae.Status == http.StatusConflict:
			return verdict{status: chat.DeliverySent}
		case ae.Status == http.StatusTooManyRequests:
			return verdict{status: chat.DeliveryPending, reason: "LINE rate limit reached (429); will retry", retryAfter: ae.RetryAfter}
		case ae.Status >= 500:
			return verdict{status: chat.DeliveryPending, reason: fmt.Sprintf("LINE error %d %s; will retry", ae.Status, http.StatusText(ae.Status))}
		case ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden:
			return verdict{status: chat.DeliveryFailed, reason: fmt.Sprintf("LINE refused the channel token (%d); check LIVECHAT_LINE_CHANNEL_TOKEN", ae.Status)}
		default:
			reason := fmt.Sprintf("LINE rejected the message (%d %s)", ae.Status, http.StatusText(ae.Status))
			if ae.Message != "" {
				reason += ": " + ae.Message
			}
			return verdict{status: chat.DeliveryFailed, reason: reason}
		}
	}
	if line.IsTimeout(err) {
		return verdict{status: chat.DeliveryPending, reason: "LINE did not answer in time; will retry"}
	}
	// Connection refused, reset, DNS: the push may or may not have arrived.
	return verdict{status: chat.DeliveryPending, reason: "cannot reach LINE; will retry"}
}

// Package rest is the JSON API the dashboard uses beside the socket, under
// /api/v1: login/refresh/logout, conversations, messages, session actions,
// operators, canned responses, business hours and customer media. It calls
// the same chat.Service as the WebSocket.
package rest

import (
	"livechat/internal/clientip"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/clock"
	"livechat/internal/mediaurl"
	"livechat/internal/ratelimit"
	"livechat/internal/wire"
)

// Sockets is the part of the WebSocket hub the REST API needs.
type Sockets interface {
	// Online maps each operator with a socket on this instance to its status.
	Online() map[int64]string
	// DisconnectOperator closes every socket of an operator.
	DisconnectOperator(id int64, reason string)
}

// Deps are the API's collaborators and settings.
type Deps struct {
	Store            chat.Store
	Service          *chat.Service
	Tokens           *auth.Tokens
	Sockets          Sockets
	Clock            clock.Clock
	Log              *slog.Logger
	AccessTTL        time.Duration
	RefreshTTL       time.Duration
	LoginMaxFailures int
	LoginWindow      time.Duration
	// Logins counts failed logins (LoginMaxFailures per LoginWindow); nil:
	// in this instance's memory. Across instances: ratelimit.RedisFailures.
	Logins ratelimit.Failures

	// Canned stores canned responses; when nil their routes answer 404.
	Canned CannedStore
	// Tags stores the tag list; when nil its routes answer 404 (a
	// conversation's tags are set through the service).
	Tags chat.TagStore
	// Hours stores the business hours; when nil their routes answer 404.
	Hours HoursStore
	// Privacy exports and erases customers; when nil their routes answer 404.
	Privacy PrivacyStore
	// Audit records the audit log and serves it; nil: no audit log.
	Audit AuditStore
	// ClientIP tells the client's address (trusted proxies); nil: the peer's.
	ClientIP *clientip.Resolver
	// Media fetches customer media from LINE; when nil the content route
	// answers 404.
	Media Content
	// MediaMaxBytes bounds one streamed media body; 0 is
	// DefaultMediaMaxBytes.
	MediaMaxBytes int64
	// MediaURLs checks the signed URLs the content route accepts without
	// a bearer token; when nil it needs a bearer token.
	MediaURLs *mediaurl.Signer
	// Wire converts messages for the wire, signing media URLs with the
	// same signer; nil converts without media URLs.
	Wire *wire.Converter
}

// Defaults for the settings left zero.
const (
	defaultAccessTTL        = 30 * time.Minute
	defaultRefreshTTL       = 7 * 24 * time.Hour
	defaultLoginMaxFailures = 5
	defaultLoginWindow      = 15 * time.Minute
)

// server holds the handlers' shared state; one per New.
type server struct {
	Deps

	// dummyHash is compared against when the username is unknown, so a
	// login costs one bcrypt either way and timing does not reveal names.
	dummyOnce sync.Once
	dummyHash string
}

// noSockets stands in when no hub is wired: nobody is online.
type noSockets struct{}

func (noSockets) Online() map[int64]string         { return nil }
func (noSockets) DisconnectOperator(int64, string) {}

// New returns the handler for /api/v1/ (everything but the socket).
func New(d Deps) http.Handler {
	if d.Clock == nil {
		d.Clock = clock.Real{}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	d.Log = d.Log.With("component", "rest")
	if d.Sockets == nil {
		d.Sockets = noSockets{}
	}
	if d.AccessTTL <= 0 {
		d.AccessTTL = defaultAccessTTL
	}
	if d.RefreshTTL <= 0 {
		d.RefreshTTL = defaultRefreshTTL
	}
	if d.LoginMaxFailures <= 0 {
		d.LoginMaxFailures = defaultLoginMaxFailures
	}
	if d.LoginWindow <= 0 {
		d.LoginWindow = defaultLoginWindow
	}
	if d.Logins == nil {
		d.Logins = ratelimit.NewFailures(d.LoginMaxFailures, d.LoginWindow, d.Clock)
	}
	s := &server{Deps: d}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/auth/login", s.login)
	mux.HandleFunc("POST /api/v1/auth/refresh", s.refresh)
	mux.HandleFunc("POST /api/v1/auth/logout", s.logout)

	const lc = "/api/v1/admin/live-chat/"
	staff := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.bearer(h)) }
	admin := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.bearer(s.adminOnly(h))) }

	staff("GET "+lc+"conversations", s.listConversations)
	staff("GET "+lc+"conversations/{line_user_id}", s.conversation)
	staff("GET "+lc+"conversations/{line_user_id}/messages", s.history)
	staff("POST "+lc+"conversations/{line_user_id}/messages", s.sendMessage)
	staff("GET "+lc+"messages/search", s.searchMessages)
	staff("POST "+lc+"conversations/{line_user_id}/claim", s.claimSession)
	staff("POST "+lc+"conversations/{line_user_id}/close", s.closeSession)
	staff("POST "+lc+"conversations/{line_user_id}/transfer", s.transferSession)
	staff("GET "+lc+"sessions/{id}", s.session)
	staff("GET "+lc+"operators", s.listOperators)
	admin("POST "+lc+"operators", s.audited(chat.AuditOperatorCreate, "operator", "", s.createOperator))
	admin("POST "+lc+"operators/{id}/disable", s.audited(chat.AuditOperatorDisable, "operator", "id", s.disableOperator))
	admin("POST "+lc+"operators/{id}/enable", s.audited(chat.AuditOperatorEnable, "operator", "id", s.enableOperator))
	admin("PUT "+lc+"operators/{id}/role", s.audited(chat.AuditOperatorRole, "operator", "id", s.setOperatorRole))
	admin("PUT "+lc+"operators/{id}/password", s.audited(chat.AuditOperatorPassword, "operator", "id", s.setOperatorPassword))
	if s.Audit != nil {
		admin("GET /api/v1/admin/audit", s.auditLog)
	}

	analytics := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.bearer(s.supervisorFor("read the analytics", h)))
	}
	analytics("GET /api/v1/admin/analytics/live-kpis", s.liveKPIs)
	analytics("GET /api/v1/admin/analytics/dashboard", s.dashboard)
	analytics("GET /api/v1/admin/analytics/hourly-stats", s.hourlyStats)
	analytics("GET /api/v1/admin/analytics/operator-performance", s.operatorPerformance)

	if s.Privacy != nil {
		mux.Handle("GET /api/v1/admin/customers/{line_user_id}/export", s.bearer(s.adminFor("export a customer's data",
			s.audited(chat.AuditCustomerExport, "customer", "line_user_id", s.exportCustomer))))
		mux.Handle("DELETE /api/v1/admin/customers/{line_user_id}", s.bearer(s.adminFor("erase a customer",
			s.audited(chat.AuditCustomerErase, "customer", "line_user_id", s.eraseCustomer))))
	}

	if s.Tags != nil {
		tagAdmin := func(pattern string, h http.HandlerFunc) {
			mux.Handle(pattern, s.bearer(s.adminFor("manage tags", h)))
		}
		staff("GET "+lc+"tags", s.listTags)
		tagAdmin("POST "+lc+"tags", s.audited(chat.AuditTagCreate, "tag", "", s.createTag))
		tagAdmin("DELETE "+lc+"tags/{id}", s.audited(chat.AuditTagDelete, "tag", "id", s.deleteTag))
	}
	staff("PUT "+lc+"conversations/{line_user_id}/tags", s.setConversationTags)

	if s.Canned != nil {
		cannedAdmin := func(pattern string, h http.HandlerFunc) {
			mux.Handle(pattern, s.bearer(s.adminFor("manage canned responses", h)))
		}
		staff("GET "+lc+"canned-responses", s.listCanned)
		cannedAdmin("POST "+lc+"canned-responses", s.audited(chat.AuditCannedCreate, "canned_response", "", s.createCanned))
		cannedAdmin("PUT "+lc+"canned-responses/{id}", s.audited(chat.AuditCannedUpdate, "canned_response", "id", s.updateCanned))
		cannedAdmin("DELETE "+lc+"canned-responses/{id}", s.audited(chat.AuditCannedDelete, "canned_response", "id", s.deleteCanned))
		staff("POST "+lc+"canned-responses/{id}/use", s.useCanned)
	}
	if s.Hours != nil {
		staff("GET "+lc+"business-hours", s.businessHours)
		mux.Handle("PUT "+lc+"business-hours", s.bearer(s.adminFor("set business hours", s.audited(chat.AuditBusinessHours, "business_hours", "", s.setBusinessHours))))
	}
	if s.Media != nil {
		// Also for signed URLs without a bearer: <img> and <video> send none.
		mux.Handle("GET "+lc+"messages/{id}/content", s.signedOrBearer(http.HandlerFunc(s.messageContent)))
	}

	return s.fallbacks(mux)
}

// Package webhook is the LINE inbound side: POST /api/v1/line/webhook
// verifies LINE's signature, stores every event in the inbox table before it
// answers 200, and a worker processes the inbox: customers, their messages,
// the handoff to a human (with business hours), unfollows and CSAT answers.
// Surveys sends the CSAT survey when an operator closes a session.
//
// What it needs from elsewhere is declared here as small interfaces:
// *store.DB, *chat.Service and *line.Client implement them.
package webhook

// Package chat is the live-chat domain: operators, customers, sessions and
// messages, the rules that govern them, and the sentinel errors every other
// package maps to protocol codes. It imports no transport and no driver.
package chat

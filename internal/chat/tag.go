package chat

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Tag is a label admins define and operators put on conversations.
type Tag struct {
	ID    int64  `json:"id"`
	Name  string `json:"name"`
	Color string `json:"color"` // "#rrggbb", or "" for the dashboard's default
}

// Tag limits.
const (
	MaxTagName          = 50
	MaxConversationTags = 20
)

var tagColorRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// CleanTag checks a new tag: a name of 1 to MaxTagName characters once
// trimmed, without control characters; a color that is empty or #rrggbb
// (kept lower-case).
func CleanTag(name, color string) (Tag, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "" || utf8.RuneCountInString(name) > MaxTagName:
		return Tag{}, &Error{Kind: ErrInvalid, Message: fmt.Sprintf("name must be 1 to %d characters", MaxTagName), Field: "name"}
	case !Storable(name) || strings.IndexFunc(name, unicode.IsControl) >= 0:
		return Tag{}, &Error{Kind: ErrInvalid, Message: "name must be text without control characters", Field: "name"}
	case color != "" && !tagColorRE.MatchString(color):
		return Tag{}, &Error{Kind: ErrInvalid, Message: "color must be empty or #rrggbb", Field: "color"}
	}
	return Tag{Name: name, Color: strings.ToLower(color)}, nil
}

// Audit actions of tags.
const (
	AuditTagCreate        = "tag.create"
	AuditTagDelete        = "tag.delete"
	AuditConversationTags = "conversation.tags"
)

// SetConversationTags replaces a conversation's tags with tagIDs (at most
// MaxConversationTags, each an existing tag's), and tells every operator
// (conversation_tagged). An unknown customer is ErrNotFound; an unknown
// tag, ErrInvalid naming tag_ids.
func (s *Service) SetConversationTags(ctx context.Context, actor Operator, lineUserID string, tagIDs []int64) ([]Tag, error) {
	if len(tagIDs) > MaxConversationTags {
		return nil, &Error{Kind: ErrInvalid, Message: fmt.Sprintf("tag_ids holds at most %d tags", MaxConversationTags), Field: "tag_ids"}
	}
	seen := map[int64]bool{}
	ids := make([]int64, 0, len(tagIDs))
	for _, id := range tagIDs {
		if id <= 0 {
			return nil, &Error{Kind: ErrInvalid, Message: "tag_ids must be tag ids", Field: "tag_ids"}
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	tags, err := s.store.SetConversationTags(ctx, lineUserID, ids, actor.ID, s.now())
	if err != nil {
		return nil, fmt.Errorf("set tags of %s: %w", lineUserID, err)
	}
	s.notify.ConversationTagged(ctx, lineUserID, tags)
	names := make([]string, len(tags))
	for i, t := range tags {
		names[i] = t.Name
	}
	id := actor.ID
	s.record(ctx, AuditEntry{ActorID: &id, Actor: actor.Username, Action: AuditConversationTags, ResourceType: "customer",
		ResourceID: lineUserID, Details: map[string]any{"tags": names}})
	return tags, nil
}

// DeleteTag deletes a tag and takes it off every conversation; every
// operator gets conversation_tagged for each conversation that had it.
// ErrNotFound when unknown.
func (s *Service) DeleteTag(ctx context.Context, id int64) error {
	had, err := s.store.DeleteTag(ctx, id)
	if err != nil {
		return fmt.Errorf("delete tag %d: %w", id, err)
	}
	if len(had) == 0 {
		return nil
	}
	tags, err := s.store.ConversationTags(ctx, had)
	if err != nil {
		return fmt.Errorf("delete tag %d: the conversations' tags: %w", id, err)
	}
	for _, luid := range had {
		ts := tags[luid]
		if ts == nil {
			ts = []Tag{}
		}
		s.notify.ConversationTagged(ctx, luid, ts)
	}
	return nil
}

// TagStore persists tags (store.DB).
type TagStore interface {
	// ListTags is every tag, by name.
	ListTags(ctx context.Context) ([]Tag, error)
	// CreateTag stores t and sets its ID; a name in use (whatever its
	// case) is ErrConflict.
	CreateTag(ctx context.Context, t *Tag, now time.Time) error
	// DeleteTag deletes a tag, and takes it off every conversation; it
	// returns the customers whose conversations had it. ErrNotFound when
	// unknown.
	DeleteTag(ctx context.Context, id int64) ([]string, error)
}

package chat

import (
	"fmt"
	"time"
)

// Role is an operator's permission level.
type Role string

const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// ParseRole accepts the three role names.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleAgent, RoleSupervisor, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q must be agent, supervisor or admin: %w", s, ErrInvalid)
}

// CanOverride reports whether the role may act on sessions it does not own.
func (r Role) CanOverride() bool { return r == RoleSupervisor || r == RoleAdmin }

// Operator is a support agent, supervisor or admin who uses the dashboard.
type Operator struct {
	ID           int64
	Username     string
	DisplayName  string
	Role         Role
	PasswordHash string
	Active       bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

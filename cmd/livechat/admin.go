package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"livechat/internal/store"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"livechat/internal/auth"
	"livechat/internal/chat"
	"livechat/internal/clock"
)

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return usageError(err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	if err := parse(newFlags("migrate", stderr), args); err != nil {
		return err
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	e.log.Info("database migrated", "dialect", db.Dialect())
	return nil
}

var usernameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,50}$`)

func operator(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError("operator needs a subcommand: create or disable")
	}
	switch args[0] {
	case "create":
		return operatorCreate(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "disable":
		return operatorDisable(ctx, args[1:], getenv, stderr)
	}
	return usageError(fmt.Sprintf("unknown operator subcommand %q (create or disable)", args[0]))
}

func operatorCreate(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlags("operator create", stderr)
	username := fs.String("username", "", "login name (letters, digits, . _ -; at most 50)")
	display := fs.String("display-name", "", "name shown to customers and colleagues")
	roleFlag := fs.String("role", "", "agent, supervisor or admin")
	password := fs.String("password", "", "password (read from stdin when omitted)")
	if err := parse(fs, args); err != nil {
		return err
	}
	var problems []string
	if !usernameRE.MatchString(*username) {
		problems = append(problems, "--username must be 1-50 letters, digits, '.', '_' or '-'")
	}
	if n := utf8.RuneCountInString(strings.TrimSpace(*display)); n == 0 || n > 100 {
		problems = append(problems, "--display-name must be 1-100 characters")
	}
	role, err := chat.ParseRole(*roleFlag)
	if err != nil {
		problems = append(problems, "--role must be agent, supervisor or admin")
	}
	if len(problems) > 0 {
		return usageError(strings.Join(problems, "; "))
	}
	pw := *password
	if !isFlagSet(fs, "password") {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	hash, err := auth.HashPassword(pw)
	if err != nil {
		return fmt.Errorf("%s", chat.PublicMessage(err, err.Error()))
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	op := chat.Operator{Username: *username, DisplayName: strings.TrimSpace(*display), Role: role, PasswordHash: hash, Active: true}
	if err := db.CreateOperator(ctx, &op); err != nil {
		if errors.Is(err, chat.ErrConflict) {
			return fmt.Errorf("username %q is already taken", *username)
		}
		return err
	}
	e.log.Info("operator created", "operator_id", op.ID, "username", op.Username, "role", op.Role)
	cliAudit(ctx, e, db, chat.AuditOperatorCreate, "operator", strconv.FormatInt(op.ID, 10))
	fmt.Fprintln(stdout, op.ID)
	return nil
}

func isFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func operatorDisable(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := newFlags("operator disable", stderr)
	id := fs.Int64("id", 0, "operator id")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id < 1 {
		return usageError("--id must be a positive operator id")
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.SetOperatorActive(ctx, *id, false); err != nil {
		if errors.Is(err, chat.ErrNotFound) {
			return fmt.Errorf("no operator with id %d", *id)
		}
		return err
	}
	// As the REST disable: a later enable must not revive old refresh tokens.
	n, err := db.RevokeOperatorRefreshTokens(ctx, *id, time.Now())
	if err != nil {
		return err
	}
	e.log.Info("operator disabled; a running server closes its sockets within 60 s", "operator_id", *id, "refresh_tokens_revoked", n)
	cliAudit(ctx, e, db, chat.AuditOperatorDisable, "operator", strconv.FormatInt(*id, 10))
	return nil
}

func token(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("token", stderr)
	id := fs.Int64("operator-id", 0, "operator id")
	ttl := fs.Duration("ttl", time.Hour, "lifetime")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *id < 1 {
		return usageError("--operator-id must be a positive operator id")
	}
	if *ttl <= 0 {
		return usageError("--ttl must be positive")
	}
	e, db, err := openAdmin(ctx, getenv, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	op, err := db.Operator(ctx, *id)
	if errors.Is(err, chat.ErrNotFound) {
		return fmt.Errorf("no operator with id %d", *id)
	}
	if err != nil {
		return err
	}
	if !op.Active {
		return fmt.Errorf("operator %d is disabled", *id)
	}
	secret, err := e.secret()
	if err != nil {
		return err
	}
	tok, _, err := auth.NewTokens(secret, clock.Real{}).Issue(op.ID, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// cliAudit records a change made from the command line.
func cliAudit(ctx context.Context, e env, db *store.DB, action, resource, id string) {
	chat.Record(ctx, db, chat.AuditEntry{At: time.Now(), Actor: "cli", Action: action, ResourceType: resource, ResourceID: id}, e.log)
}

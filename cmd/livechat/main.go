// Command livechat is the live-chat server and its admin subcommands.
// Logs go to stderr; stdout carries only a subcommand's result.
package main

import (
	"context"
	"fmt"
	"io"
	"livechat/internal/config"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the business timezone must resolve on minimal hosts
)

const usage = `usage: livechat <command> [flags]

commands:
  serve                       run the server (LIVECHAT_ADDR, default 127.0.0.1:8080)
  migrate                     apply database migrations
  operator create --username U --display-name N --role agent|supervisor|admin [--password P]
                              create an operator (password from stdin without --password); prints its id
  operator disable --id N     disable an operator; its sockets close (within 60 s on a running server)
  token --operator-id N [--ttl 1h]
                              print a signed access token for an operator
  inbox list [--dead|--rejected] [--limit N]
                              quarantined and rejected webhook events, as JSON lines
  inbox retry --id N          put a quarantined webhook event back in the queue
  outbox list [--limit N]     quarantined operator messages, as JSON lines
  customer export --line-user-id U
                              print everything stored of a customer, as JSON (PDPA)
  customer erase --line-user-id U
                              delete everything stored of a customer (no open session)
  backup --to FILE            copy the SQLite database to a new file, also while serving
  fakeline [--addr 127.0.0.1:8090] [--token T]
                              run the fake LINE API (tests, demo); prints its base URL on stderr
  simulate --server URL --customers N [--fakeline URL] [--secret S] [--duration 10m] [--seed K] [--score 1-5] [--list]
                              play N LINE customers against a server and the fake LINE; prints a transcript
  bench [--profile quick|full|storm|smoke|tiny] [--pin] [--markdown FILE] [--database-url URL [--redis-url URL]]
        [--server URL --server-pid N] [--targets T,..] [--scenarios S,..] [--check] [--keep] [--print-env]
                              measure capacity beside the floor (starts its own servers); a table, then one JSON line
  bench floor-server [--addr 127.0.0.1:8070] [--sqlite DIR]
                              run the floor: the minimal room server the bench compares with

Configuration comes from LIVECHAT_* environment variables (see README).
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], config.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests call it with their own env and streams.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], getenv, stderr)
	case "migrate":
		err = migrate(ctx, args[1:], getenv, stderr)
	case "operator":
		err = operator(ctx, args[1:], getenv, stdin, stdout, stderr)
	case "token":
		err = token(ctx, args[1:], getenv, stdout, stderr)
	case "inbox":
		err = inbox(ctx, args[1:], getenv, stdout, stderr)
	case "outbox":
		err = outboxCmd(ctx, args[1:], getenv, stdout, stderr)
	case "customer":
		err = customerCmd(ctx, args[1:], getenv, stdout, stderr)
	case "backup":
		err = backupCmd(ctx, args[1:], getenv, stderr)
	case "fakeline":
		err = fakeline(ctx, args[1:], getenv, stdout, stderr)
	case "simulate":
		err = simulateCustomers(ctx, args[1:], getenv, stdout, stderr)
	case "bench":
		err = benchCmd(ctx, args[1:], getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "livechat: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "livechat %s: %v\n", args[0], err)
		if _, ok := err.(usageError); ok {
			return 2
		}
		return 1
	}
	return 0
}

// usageError is a bad invocation (exit 2).
type usageError string

func (e usageError) Error() string { return string(e) }

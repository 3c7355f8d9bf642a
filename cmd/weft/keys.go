package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/weftdb/weft/auth"
	weftv1 "github.com/weftdb/weft/proto/gen/weft/v1"
)

// grantFlags collects --grant NAMESPACE=ROLE flags.
type grantFlags []*weftv1.Grant

func (g *grantFlags) String() string { return "" }

func (g *grantFlags) Set(v string) error {
	ns, role, ok := strings.Cut(v, "=")
	if !ok {
		return fmt.Errorf("%q: want NAMESPACE=ROLE, e.g. docs=read or tenant-*=write", v)
	}
	r, err := auth.ParseRole(role)
	if err != nil {
		return err
	}
	*g = append(*g, &weftv1.Grant{Namespace: ns, Role: r})
	return nil
}

// runKeys is `weft keys create|list|revoke`, with an admin key in
// $WEFT_API_KEY.
func runKeys(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: weft keys create --name NAME --grant NAMESPACE=ROLE... [--expires-in 720h] | weft keys list | weft keys revoke ID"
	if len(args) == 0 {
		return errors.New(usage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c clientFlags
	c.register(fs)
	var grants grantFlags
	name := fs.String("name", "", "create: a label for the key")
	fs.Var(&grants, "grant", "create: NAMESPACE=ROLE (read, write or admin); NAMESPACE is a name, a prefix ending in *, or *; repeat for more")
	expiresIn := fs.Duration("expires-in", 0, "create: the key stops working after this long (0: never)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	defer cl.Close()
	api := cl.Raw().Auth
	switch args[0] {
	case "create":
		if fs.NArg() > 0 {
			return fmt.Errorf("keys create takes no arguments, got %q", fs.Args())
		}
		req := &weftv1.CreateKeyRequest{Name: *name, Grants: grants}
		if *expiresIn > 0 {
			req.ExpireTime = timestamppb.New(time.Now().Add(*expiresIn))
		}
		resp, err := api.CreateKey(ctx, connect.NewRequest(req))
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "key %s created; its secret is shown once, below\n", resp.Msg.GetKey().GetId())
		fmt.Fprintln(stdout, resp.Msg.GetSecret())
		return nil
	case "list":
		resp, err := api.ListKeys(ctx, connect.NewRequest(&weftv1.ListKeysRequest{}))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tGRANTS\tCREATED\tEXPIRES\tREVOKED")
		for _, k := range resp.Msg.GetKeys() {
			var g []string
			for _, gr := range k.GetGrants() {
				g = append(g, gr.GetNamespace()+"="+auth.RoleName(gr.GetRole()))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", k.GetId(), k.GetName(), strings.Join(g, ","),
				when(k.GetCreateTime()), when(k.GetExpireTime()), when(k.GetRevokeTime()))
		}
		return tw.Flush()
	case "revoke":
		if fs.NArg() != 1 {
			return errors.New("usage: weft keys revoke ID")
		}
		resp, err := api.RevokeKey(ctx, connect.NewRequest(&weftv1.RevokeKeyRequest{Id: fs.Arg(0)}))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "key %s (%s) revoked\n", resp.Msg.GetKey().GetId(), resp.Msg.GetKey().GetName())
		return nil
	}
	return fmt.Errorf("unknown keys command %q\n%s", args[0], usage)
}

func when(t *timestamppb.Timestamp) string {
	if t == nil {
		return "-"
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

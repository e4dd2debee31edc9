package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/crosstalk-dev/crosstalk/harness/evidence"
)

// writesOracle: at the end, each account holds exactly what its user last
// wrote; no bank-detail change landed in someone else's account (the CAF
// incident's "readable and changeable"). Every account a flow step wrote
// (writes: iban) is read back, through the target's driver when it can
// (AccountReader), or through the scenario's read-back request.
type writesOracle struct{}

// AccountReader is a target whose accounts can be read back, for the
// writes oracle. An error wrapping ErrNoReadBack means it cannot.
type AccountReader interface {
	StoredIBAN(ctx context.Context, user int) (string, error)
}

// ErrNoReadBack is wrapped by targets that cannot read accounts back.
var ErrNoReadBack = errors.New("this target cannot read accounts back")

func (writesOracle) judge(ctx context.Context, j *judgement) error {
	read := j.readBack()
	if read == nil {
		if j.touched() > 0 {
			j.note("writes oracle skipped: target " + j.t.Name() + " cannot read accounts back; declare portal.read_back to read them over HTTP")
		}
		return nil
	}
	n, err := auditWrites(ctx, j.e, read)
	j.rec.AccountsAudited = n
	if errors.Is(err, ErrNoReadBack) {
		j.note("writes oracle skipped: target " + j.t.Name() + " cannot read accounts back")
		return nil
	}
	return err
}

// touched returns the number of accounts the run wrote.
func (j *judgement) touched() int {
	n := 0
	j.e.users.each(func(_ int, a *actor) {
		if a.touched {
			n++
		}
	})
	return n
}

// readBack returns how to read a user's stored IBAN, or nil.
func (j *judgement) readBack() func(ctx context.Context, user int) (string, error) {
	if r, ok := j.t.(AccountReader); ok {
		return r.StoredIBAN
	}
	if p := j.sc.Portal; p != nil && p.ReadBack != nil {
		plan, errs := compileStep("portal.read_back.request", p.ReadBack.Request, p.Hosts)
		if len(errs) > 0 {
			return nil
		}
		client := &http.Client{Transport: j.tr, Timeout: DefaultTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		x := p.ReadBack.IBAN
		re, _ := compileExtract(x) // checked with the scenario
		return func(ctx context.Context, user int) (string, error) {
			t := vegeta.Target{Header: make(http.Header, 4)}
			plan.fill(&t, j.e.baseOf(plan.Host), flowData{User: j.e.flowUser(user, j.e.users.get(user))})
			req, err := t.Request()
			if err != nil {
				return "", err
			}
			resp, err := client.Do(req.WithContext(ctx))
			if err != nil {
				return "", err
			}
			body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if err != nil {
				return "", err
			}
			if !plan.expects(resp.StatusCode, resp.Header.Get("Location")) {
				return "", fmt.Errorf("%s %s answered %d", req.Method, req.URL.Path, resp.StatusCode)
			}
			v, ok := extract(x, re, resp, body, resp.Header.Get("Location"))
			if !ok {
				return "", fmt.Errorf("%s %s: no IBAN where portal.read_back.iban says", req.Method, req.URL.Path)
			}
			return strings.ToUpper(strings.ReplaceAll(v, " ", "")), nil
		}
	}
	return nil
}

// auditWrites reads back every account whose user changed its bank details
// and records a writes violation where the stored IBAN is not the one its
// user last wrote.
func auditWrites(ctx context.Context, e *engine, read func(context.Context, int) (string, error)) (int, error) {
	n := 0
	var err error
	e.users.each(func(i int, u *actor) {
		if !u.touched || err != nil {
			return
		}
		n++
		stored, rerr := read(ctx, i)
		if rerr != nil {
			err = fmt.Errorf("writes audit: reading user %d's bank details: %w", i, rerr)
			return
		}
		want := e.pop.IBAN(i, int(u.ibanGen))
		if stored == want || (u.ibanUnsure && stored == e.pop.IBAN(i, int(u.ibanAlt))) {
			return
		}
		v := evidence.Violation{
			Oracle: OracleWrites, Viewer: i, Owner: i, Field: "iban", Value: stored, Where: "stored account",
			Request: "audit", Seed: e.seed, AtS: e.loadEnd.Sub(e.start).Seconds(), Faults: []string{},
		}
		if len(stored) == 27 {
			if owner, gen, ok := e.pop.DecodeIBAN([]byte(stored[2:])); ok && owner != i {
				v.Viewer = owner
				v.Detail = fmt.Sprintf("user %d's account holds the IBAN that user %d wrote (generation %d)", i, owner, gen)
			} else if ok {
				v.Detail = fmt.Sprintf("user %d's account holds IBAN generation %d, but the user last wrote generation %d", i, gen, u.ibanGen)
			}
		}
		if v.Detail == "" {
			v.Detail = fmt.Sprintf("user %d's account holds an IBAN nobody in the population wrote; want %s", i, want)
		}
		e.rec.Add(v)
	})
	return n, err
}

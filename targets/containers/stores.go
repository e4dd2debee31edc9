package containers

import (
	"context"
	"fmt"
	"strings"

	toxiclient "github.com/Shopify/toxiproxy/v2/client"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// StoreLinks implements harness.StoreLink.
func (s *Stack) StoreLinks() []string { return []string{"sessions", "accounts"} }

// StoreToxic implements harness.StoreLink on every replica's link to store.
func (s *Stack) StoreToxic(_ context.Context, store string, t *harness.Toxic) error {
	return s.eachLink(store, func(p *toxiclient.Proxy) error {
		if err := p.RemoveToxic("fault"); err != nil && !strings.Contains(err.Error(), "not found") {
			return err
		}
		if t == nil {
			return nil
		}
		attrs := toxiclient.Attributes{}
		for k, v := range t.Attributes {
			attrs[k] = v
		}
		_, err := p.AddToxic("fault", t.Type, "downstream", 1, attrs)
		return err
	})
}

// StoreDown implements harness.StoreLink.
func (s *Stack) StoreDown(_ context.Context, store string) error {
	return s.eachLink(store, (*toxiclient.Proxy).Disable)
}

// StoreUp implements harness.StoreLink.
func (s *Stack) StoreUp(_ context.Context, store string) error {
	return s.eachLink(store, (*toxiclient.Proxy).Enable)
}

func (s *Stack) eachLink(store string, f func(*toxiclient.Proxy) error) error {
	for i := 1; i <= s.replicas; i++ {
		p, err := s.toxi.Proxy(linkName(store, i))
		if err != nil {
			return fmt.Errorf("toxiproxy: %w", err)
		}
		if err := f(p); err != nil {
			return fmt.Errorf("toxiproxy %s: %w", linkName(store, i), err)
		}
	}
	return nil
}

// FlushStore implements harness.StoreFlusher: FLUSHALL on Redis.
func (s *Stack) FlushStore(ctx context.Context, _ string) error {
	_, err := s.ServiceExec(ctx, "redis", []string{"redis-cli", "FLUSHALL"})
	return err
}

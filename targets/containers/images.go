package containers

import (
	"fmt"
	"os"
	"strings"
)

// Images names the images of the stack.
type Images struct {
	Crosstalk string // the portal replicas and Toxiproxy (FROM scratch)
	Redis     string
	Postgres  string
	Nginx     string
}

// DefaultImages returns the names make images builds:
// $CROSSTALK_IMAGE_PREFIX/NAME:$CROSSTALK_IMAGE_TAG (crosstalk/NAME:local),
// each overridden by $CROSSTALK_IMAGE_<NAME> when set.
func DefaultImages() Images {
	prefix, tag := envOr("CROSSTALK_IMAGE_PREFIX", "crosstalk"), envOr("CROSSTALK_IMAGE_TAG", "local")
	name := func(n string) string {
		return envOr("CROSSTALK_IMAGE_"+strings.ToUpper(n), prefix+"/"+n+":"+tag)
	}
	return Images{Crosstalk: name("crosstalk"), Redis: name("redis"), Postgres: name("postgres"), Nginx: name("nginx")}
}

// Set overrides one image from a NAME=REF spec, such as redis=redis:7.
func (im *Images) Set(spec string) error {
	name, ref, ok := strings.Cut(spec, "=")
	if !ok || ref == "" {
		return fmt.Errorf("%q: want NAME=IMAGE, NAME one of crosstalk, redis, postgres, nginx", spec)
	}
	switch name {
	case "crosstalk":
		im.Crosstalk = ref
	case "redis":
		im.Redis = ref
	case "postgres":
		im.Postgres = ref
	case "nginx":
		im.Nginx = ref
	default:
		return fmt.Errorf("%q: unknown image %q (known: crosstalk, redis, postgres, nginx)", spec, name)
	}
	return nil
}

func (im Images) list() []string { return []string{im.Crosstalk, im.Redis, im.Postgres, im.Nginx} }

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

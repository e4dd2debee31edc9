package compose

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "compose.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	return p
}

const file = `services:
  web: {image: app, ports: ["127.0.0.1::8080"]}
  db: {image: db, volumes: ["data:/data", "shared:/shared"]}
volumes:
  data: {}
  shared: {external: true}
`

// New reads the file before anything starts: services by name, the file's
// own volumes (to label), and an entry it can check.
func TestNewReadsTheFile(t *testing.T) {
	s, err := New(writeFile(t, file), "web:8080", nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"db", "web"}, s.Services())
	assert.Equal(t, []string{"data"}, s.volumes, "an external volume is not the stack's to label or remove")
}

func TestNewBadInput(t *testing.T) {
	for _, tc := range []struct{ name, file, entry, want string }{
		{"missing file", "", "web:8080", "no such file"},
		{"no services", "services: {}\n", "web:8080", "no services"},
		{"not YAML", "services: [\n", "web:8080", "compose.yaml"},
		{"no entry", file, "", "services publishing ports"},
		{"entry without port", file, "web", "want SERVICE:PORT"},
		{"unknown entry service", file, "api:8080", `no service "api"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "missing.yaml")
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := New(path, tc.entry, nil)
			require.Error(t, err)
			assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err))
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

package url

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
)

func TestNew(t *testing.T) {
	tgt, err := New("http://127.0.0.1:8080/", nil)
	require.NoError(t, err)
	base, err := tgt.Start(context.Background(), nil)
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8080", base, "no trailing slash: paths are appended")
	_, canRead := any(tgt).(harness.AccountReader)
	assert.False(t, canRead, "a stack reached by URL has no driver to read accounts back")
	assert.NoError(t, tgt.Stop(context.Background()), "crosstalk leaves a stack it did not start running")

	for _, bad := range []string{"10.0.0.1:80", "ftp://127.0.0.1", "http://10.0.0.1:80", "http://8.8.8.8"} {
		_, err := New(bad, nil)
		assert.Equal(t, harness.ClassBadInput, harness.ClassOf(err), bad)
	}
	_, err = New("http://10.0.0.1:80", []string{"10.0.0.1"})
	assert.NoError(t, err, "an allowed host")
}

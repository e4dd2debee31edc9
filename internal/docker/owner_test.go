package docker

import (
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestAliveSweepsOnlyWhatIsSurelyDead: down removes a run whose owner
// process on this host is gone; a live owner, another host's, or a stack
// with no owner label is kept.
func TestAliveSweepsOnlyWhatIsSurelyDead(t *testing.T) {
	host, err := os.Hostname()
	require.NoError(t, err)
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	dead := host + ":" + strconv.Itoa(cmd.Process.Pid)

	assert.True(t, alive(Owner()), "this process")
	assert.False(t, alive(dead), "a process that has exited")
	assert.True(t, alive("another-host:1"), "another host's run is not ours to judge")
	assert.True(t, alive(""), "a stack from before owners were labelled")
	assert.Equal(t, "true", Labels("r", true)[DetachedLabel])
	assert.NotContains(t, Labels("r", false), DetachedLabel)
}

package portal

import (
	"errors"
	"net"
)

// DefectStoreDirtyConnection reproduces the ChatGPT incident of 20 March
// 2023 (INCIDENTS.md, and redis-py #2624, go-redis #2556): a request
// cancelled after it was sent left its reply unread on a pooled connection,
// and the next user of that connection read it. Here the session-store
// client returns a connection to its pool after a timeout instead of closing
// it; when the store link is slow, the late reply to user A's lookup is read
// as user B's session.
const DefectStoreDirtyConnection = "store-dirty-connection"

func init() {
	registerDefect(Defect{
		Name:      DefectStoreDirtyConnection,
		Incident:  "chatgpt-2023",
		Mechanism: "the session-store client pools a connection that timed out with its reply unread, and the next lookup reads that reply",
		Trigger:   "store-latency",
	})
}

// reuseAfterError reports whether a connection that failed with err goes
// back to the pool. Only the defect does that, and only after a timeout.
func (s *RESPSessions) reuseAfterError(err error) bool {
	var ne net.Error
	return s.defects.Has(DefectStoreDirtyConnection) && errors.As(err, &ne) && ne.Timeout()
}

package portal

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// renderPause is how long the batch path spends on each line of a document.
const renderPause = time.Millisecond

// DefectSharedRenderBuffer reproduces the Fujitsu Japan incidents of 2023
// (INCIDENTS.md): two print jobs running at once put another resident's data
// on a certificate. Here the replica renders payment certificates through
// one shared line buffer when it is busy (a "batch" path for bursts); two
// renders at once interleave, and one user's certificate carries another's
// NIR, address or IBAN.
const DefectSharedRenderBuffer = "shared-render-buffer"

func init() {
	registerDefect(Defect{
		Name:      DefectSharedRenderBuffer,
		Incident:  "fujitsu-2023",
		Mechanism: "certificates rendered concurrently on a busy replica share one buffer and mix their lines",
		Trigger:   "load-spike",
	})
}

// sharedRenderer is the replica's one document buffer. Each line is added
// under the lock, but a render as a whole is not: that is the defect.
type sharedRenderer struct {
	mu    sync.Mutex
	lines []string
}

func (sr *sharedRenderer) document(r *Replica, a Account) []byte {
	lines := attestationLines(a)
	if !r.defects.Has(DefectSharedRenderBuffer) || !r.hot() {
		return []byte(strings.Join(lines, "\n"))
	}
	sr.mu.Lock()
	sr.lines = sr.lines[:0]
	sr.mu.Unlock()
	for _, l := range lines {
		sr.mu.Lock()
		sr.lines = append(sr.lines, l)
		sr.mu.Unlock()
		time.Sleep(renderPause) // a real renderer waits on fonts, layout, the spooler
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	return []byte(strings.Join(sr.lines, "\n"))
}

func attestationLines(a Account) []string {
	return []string{
		"CAISSE D'ALLOCATIONS FAMILIALES - ATTESTATION DE PAIEMENT",
		fmt.Sprintf("Allocataire : %s %s", a.First, a.Last),
		fmt.Sprintf("Numero de securite sociale : %s", group(a.NIR, " ", 1, 2, 2, 2, 3, 3)),
		fmt.Sprintf("Adresse : %s, %s %s", a.Street, a.PostalCode, a.City),
		fmt.Sprintf("Compte de versement : %s", group(a.IBAN, " ", 4, 4, 4, 4, 4, 4)),
		fmt.Sprintf("Ressources mensuelles declarees : %d EUR", a.Salary),
		"Fait pour servir et valoir ce que de droit.",
	}
}

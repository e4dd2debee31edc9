package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/crosstalk-dev/crosstalk/harness"
	"github.com/crosstalk-dev/crosstalk/reports"
	"github.com/crosstalk-dev/crosstalk/scenarios"
	"github.com/crosstalk-dev/crosstalk/targets/containers"
	"github.com/crosstalk-dev/crosstalk/workers/kube"
)

// kubeFlags are the flags of a run on a Kubernetes cluster.
type kubeFlags struct {
	kubeconfig, context, namespace string
	image, requests, limits        string
	keep                           bool
}

// registerCluster registers the flags that reach the cluster.
func (k *kubeFlags) registerCluster(fl *pflag.FlagSet) {
	fl.StringVar(&k.kubeconfig, "kubeconfig", "", "kubernetes: the kubeconfig file (default $KUBECONFIG, then ~/.kube/config)")
	fl.StringVar(&k.context, "kube-context", "", "kubernetes: the kubeconfig context (default its current one)")
	fl.StringVar(&k.namespace, "namespace", "default", "kubernetes: the namespace of the run's Jobs")
}

// registerPods registers the flags that shape the pods.
func (k *kubeFlags) registerPods(fl *pflag.FlagSet) {
	fl.StringVar(&k.requests, "requests", "cpu=1,memory=256Mi", "kubernetes: each pod's resource requests, cpu=Q,memory=Q")
	fl.StringVar(&k.limits, "limits", "cpu=2,memory=1Gi", "kubernetes: each pod's resource limits, cpu=Q,memory=Q")
}

// registerRun registers them on crosstalk run, whose --image crosstalk=REF
// names the pods' image.
func (k *kubeFlags) registerRun(fl *pflag.FlagSet) {
	k.registerCluster(fl)
	k.registerPods(fl)
	fl.BoolVar(&k.keep, "keep", false, "kubernetes: leave the run's Jobs after it ends, for their logs (crosstalk down --engine kubernetes removes them)")
}

var kubeFlagNames = []string{"kubeconfig", "kube-context", "namespace", "requests", "limits", "keep"}

// spec builds the run's objects' spec: the scenario file goes in a
// ConfigMap, the coordinator runs it with args.
func (k *kubeFlags) spec(path string, workers int, duration time.Duration, args []string) (kube.Spec, error) {
	if workers < 1 || workers > 1000 {
		return kube.Spec{}, harness.BadInput("--workers %d: want between 1 and 1000", workers)
	}
	b, file, err := scenarioFile(path)
	if err != nil {
		return kube.Spec{}, err
	}
	req, err := kube.Resources(k.requests)
	if err != nil {
		return kube.Spec{}, harness.BadInput("--requests %v", err)
	}
	lim, err := kube.Resources(k.limits)
	if err != nil {
		return kube.Spec{}, harness.BadInput("--limits %v", err)
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	return kube.Spec{Run: hex.EncodeToString(id[:]), Namespace: k.namespace, Image: k.image, Workers: workers,
		Scenario: b, ScenarioFile: file, Args: args, Requests: req, Limits: lim, Deadline: duration + 15*time.Minute}, nil
}

// scenarioFile returns the scenario's YAML, checked, and its file name.
func scenarioFile(path string) ([]byte, string, error) {
	b, err := scenarios.Source(path)
	if err != nil {
		return nil, "", err
	}
	if _, err := scenarios.Parse(path, b); err != nil {
		return nil, "", err
	}
	return b, strings.TrimSuffix(filepath.Base(path), ".yaml") + ".yaml", nil
}

// client connects to the cluster of the kubeconfig.
func (k *kubeFlags) client() (kubernetes.Interface, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if k.kubeconfig != "" {
		rules.ExplicitPath = k.kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context}).ClientConfig()
	if err != nil {
		return nil, harness.BadInput("no Kubernetes cluster: %v (set $KUBECONFIG or --kubeconfig)", err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, harness.BadInput("kubeconfig: %v", err)
	}
	return c, nil
}

// coordinatorArgs are the crosstalk run flags the user set, for the
// coordinator's pod: all but those of the engine and of this machine.
func coordinatorArgs(fl *pflag.FlagSet) []string {
	skip := map[string]bool{"workers": true, "engine": true, "out": true, "quiet": true, "coordinator-listen": true, "image": true,
		"coordinator-url": true, "metrics-addr": true, "baseline": true, "serve-reports": true}
	for _, n := range kubeFlagNames {
		skip[n] = true
	}
	var args []string
	fl.Visit(func(f *pflag.Flag) {
		if skip[f.Name] {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

// runOnKubernetes is crosstalk run --engine kubernetes: the objects are
// created, the run watched, the reports brought back to out.
func runOnKubernetes(cmd *cobra.Command, path string, f runFlags, out string, stdout, stderr io.Writer) error {
	if f.target != "url" {
		return harness.BadInput("--engine kubernetes: the workers reach the target over the cluster's network: give --target url --base-url URL "+
			"(and --allow-host HOST for a service name), not --target %s", f.target)
	}
	sc, err := scenarios.Load(path)
	if err != nil {
		return err
	}
	duration := sc.Duration
	if f.duration > 0 {
		duration = f.duration
	}
	im, err := imagesFrom(f.images)
	if err != nil {
		return harness.BadInput("--image %v", err)
	}
	f.kube.image = im.Crosstalk
	spec, err := f.kube.spec(path, f.workers, duration, coordinatorArgs(cmd.Flags()))
	if err != nil {
		return err
	}
	client, err := f.kube.client()
	if err != nil {
		return err
	}
	status := func(s string) { fmt.Fprintln(stderr, "crosstalk: "+s) }
	status(fmt.Sprintf("run %s on Kubernetes, namespace %s: %d workers (if this process is killed: crosstalk down --engine kubernetes --run %s)",
		spec.Run, spec.Namespace, f.workers, spec.Run))
	ctl := &kube.Controller{Client: client, Spec: spec, Status: status, Keep: f.kube.keep}
	res, err := ctl.Run(cmd.Context())
	if res != nil && res.Reports != nil {
		if uerr := untar(res.Reports, out); uerr != nil {
			return harness.TargetFailure(fmt.Errorf("unpacking the reports into %s: %w", out, uerr))
		}
		if rec, rerr := readRecord(out); rerr == nil {
			_ = reports.Summary(stdout, rec)
			fmt.Fprintf(stdout, "reports     %s\n", strings.Join(reports.Paths(out), " "))
		}
	}
	if err != nil {
		return harness.TargetFailure(err)
	}
	switch res.Exit {
	case exitPass:
		return nil
	case exitFail:
		return errGateFailed
	case exitBadInput:
		return harness.BadInput("the coordinator refused the run (exit 2): see its pod's log")
	default:
		return harness.TargetFailure(fmt.Errorf("the run on the cluster could not complete (exit %d)%s", res.Exit, failedPods(res.Failed)))
	}
}

func failedPods(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return ": " + strings.Join(p, "; ")
}

// newK8sCmd prints the objects of a run on Kubernetes.
func newK8sCmd(stdout io.Writer) *cobra.Command {
	k8s := &cobra.Command{Use: "k8s", Short: "Kubernetes objects of a run on several load generators"}
	var kf kubeFlags
	var workers int
	var duration time.Duration
	manifest := &cobra.Command{
		Use:   "manifest SCENARIO [-- RUN FLAGS...]",
		Short: "Print a run's Kubernetes objects as YAML (for GitOps)",
		Long: `Print the objects crosstalk run --engine kubernetes creates, as YAML: the
scenario's ConfigMap, the coordinator's Service and Job, and the workers'
Indexed Job (completionMode: Indexed; each pod drives the shard of its
JOB_COMPLETION_INDEX). Flags after -- are the coordinator's crosstalk run
flags: the target, the overrides.`,
		Example: `  crosstalk k8s manifest scenarios/caf-2021.yaml --workers 8 -- \
      --target url --base-url http://portal.prod.svc:8080 --allow-host portal.prod.svc --faults none`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := kf.spec(args[0], workers, duration, args[1:])
			if err != nil {
				return err
			}
			return kube.Manifest(stdout, kube.Objects(spec))
		},
	}
	kf.registerPods(manifest.Flags())
	manifest.Flags().StringVar(&kf.namespace, "namespace", "default", "the namespace of the run's Jobs")
	manifest.Flags().StringVar(&kf.image, "image", containers.DefaultImages().Crosstalk, "the crosstalk image the pods run")
	manifest.Flags().IntVar(&workers, "workers", 4, "how many workers (pods of the Indexed Job)")
	manifest.Flags().DurationVar(&duration, "duration", 10*time.Minute, "bounds the Jobs: the load's duration (they get 15 minutes more to start and report)")
	k8s.AddCommand(manifest)
	return k8s
}

// kubeDown is crosstalk down --engine kubernetes.
func kubeDown(ctx context.Context, kf *kubeFlags, run string, stdout io.Writer) error {
	client, err := kf.client()
	if err != nil {
		return err
	}
	n, err := kube.Down(ctx, client, kf.namespace, run)
	if err != nil {
		return harness.TargetFailure(err)
	}
	fmt.Fprintf(stdout, "removed %d Kubernetes objects of crosstalk runs in namespace %s\n", n, kf.namespace)
	return nil
}

// serveReports is what the coordinator's pod does after its run: it hands
// the exit status (GET /v1/exit) and the reports (GET /v1/reports, a
// gzipped tar) to crosstalk run --engine kubernetes, through the API
// server's service proxy, until they were fetched once or for d.
func serveReports(ctx context.Context, listen, out string, code int, d time.Duration, stderr io.Writer) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintf(stderr, "crosstalk: serving the reports: %v\n", err)
		return
	}
	fetched := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/exit", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "%d\n", code) })
	mux.HandleFunc("GET /v1/reports", func(w http.ResponseWriter, _ *http.Request) {
		b, err := tarDir(out)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/gzip")
		if _, err := w.Write(b); err == nil {
			select {
			case <-fetched:
			default:
				close(fetched)
			}
		}
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stderr, "crosstalk: reports ready on %s (exit %d), for %s\n", ln.Addr(), code, d)
	select {
	case <-fetched:
	case <-time.After(d):
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}

// tarDir returns dir as a gzipped tar.
func tarDir(dir string) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// untar unpacks a gzipped tar into dir, refusing paths that leave it.
func untar(b []byte, dir string) error {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fs.ValidPath(strings.TrimSuffix(h.Name, "/")) {
			return fmt.Errorf("the archive holds %q, outside the reports", h.Name)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.Create(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, 1<<30))
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

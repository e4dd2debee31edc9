package kube

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
)

// Controller runs one Spec's objects on a cluster and brings the verdict
// and the reports back.
type Controller struct {
	Client kubernetes.Interface
	Spec   Spec
	// Status is told of the run's progress.
	Status func(string)
	// Poll is how often the coordinator is asked whether the run ended
	// (default 2 s).
	Poll time.Duration
	// Keep leaves the objects after the run, for their logs.
	Keep bool
	// FailGrace is how long, once a worker pod failed, the coordinator
	// has to notice and hand its verdict over (default: two minutes).
	FailGrace time.Duration
}

// Result is how a run on the cluster ended.
type Result struct {
	// Exit is the coordinator's exit status: the CLI contract's.
	Exit int
	// Reports is the coordinator's output directory as a gzipped tar,
	// nil if it could not be fetched.
	Reports []byte
	// Failed names the pods that failed.
	Failed []string
}

// Run creates the objects, watches the pods until the coordinator hands
// its verdict over (through the API server's service proxy), fetches the
// reports, and removes the objects. A worker pod that fails is named; the
// coordinator then ends the run with exit 3 itself, or, if it cannot
// answer, the result is exit 3.
func (c *Controller) Run(ctx context.Context) (*Result, error) {
	if c.Status == nil {
		c.Status = func(string) {}
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.FailGrace <= 0 {
		c.FailGrace = 2 * time.Minute
	}
	s := c.Spec
	if !c.Keep {
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if n, err := Down(dctx, c.Client, s.Namespace, s.Run); err != nil {
				c.Status(fmt.Sprintf("removing the run's objects: %v (crosstalk down --engine kubernetes removes them)", err))
			} else {
				c.Status(fmt.Sprintf("removed the run's %d objects", n))
			}
		}()
	}
	for _, o := range Objects(s) {
		if err := c.create(ctx, o); err != nil {
			return nil, fmt.Errorf("creating %s: %w", describe(o), err)
		}
		c.Status("created " + describe(o))
	}
	w, err := c.Client.CoreV1().Pods(s.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: LabelRun + "=" + s.Run})
	if err != nil {
		return nil, fmt.Errorf("watching the run's pods: %w", err)
	}
	defer w.Stop()
	res := &Result{Exit: 3}
	tick := time.NewTicker(c.Poll)
	defer tick.Stop()
	seen := map[string]corev1.PodPhase{}
	var failedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return res, fmt.Errorf("interrupted: %w", ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return res, errors.New("the watch of the run's pods ended")
			}
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			if seen[pod.Name] == pod.Status.Phase {
				continue
			}
			seen[pod.Name] = pod.Status.Phase
			role, index := pod.Labels[LabelRole], pod.Annotations[batchv1.JobCompletionIndexAnnotation]
			who := role
			if index != "" {
				who += " " + index
			}
			c.Status(fmt.Sprintf("pod %s (%s): %s", pod.Name, who, pod.Status.Phase))
			if pod.Status.Phase != corev1.PodFailed {
				continue
			}
			res.Failed = append(res.Failed, fmt.Sprintf("%s (%s): %s", pod.Name, who, why(pod)))
			if failedAt.IsZero() {
				failedAt = time.Now()
			}
			if role == "coordinator" {
				// The coordinator is gone: nobody will answer.
				return res, fmt.Errorf("the coordinator's pod failed: %s", why(pod))
			}
		case <-tick.C:
			exit, err := c.proxyGet(ctx, "/v1/exit")
			if err != nil {
				if !failedAt.IsZero() && time.Since(failedAt) > c.FailGrace {
					res.Exit = 3
					return res, fmt.Errorf("a worker pod failed and the coordinator did not end the run within %s", c.FailGrace)
				}
				continue // the run goes on, or the coordinator is not up yet
			}
			if res.Exit, err = strconv.Atoi(strings.TrimSpace(string(exit))); err != nil {
				return res, fmt.Errorf("the coordinator's exit status %q: %w", exit, err)
			}
			if len(res.Failed) > 0 && res.Exit == 0 {
				res.Exit = 3 // a failed worker never passes the gate
			}
			if res.Reports, err = c.proxyGet(ctx, "/v1/reports"); err != nil {
				return res, fmt.Errorf("fetching the reports: %w", err)
			}
			return res, nil
		}
	}
}

func (c *Controller) proxyGet(ctx context.Context, path string) ([]byte, error) {
	return c.Client.CoreV1().Services(c.Spec.Namespace).ProxyGet("http", c.Spec.Name("coordinator"), strconv.Itoa(Port), path, nil).DoRaw(ctx)
}

func (c *Controller) create(ctx context.Context, o runtime.Object) error {
	opts := metav1.CreateOptions{}
	ns := c.Spec.Namespace
	var err error
	switch o := o.(type) {
	case *corev1.ConfigMap:
		_, err = c.Client.CoreV1().ConfigMaps(ns).Create(ctx, o, opts)
	case *corev1.Service:
		_, err = c.Client.CoreV1().Services(ns).Create(ctx, o, opts)
	case *batchv1.Job:
		_, err = c.Client.BatchV1().Jobs(ns).Create(ctx, o, opts)
	default:
		err = fmt.Errorf("unexpected object %T", o)
	}
	return err
}

func describe(o runtime.Object) string {
	m, err := metaOf(o)
	if err != nil {
		return fmt.Sprintf("%T", o)
	}
	return o.GetObjectKind().GroupVersionKind().Kind + " " + m.GetName()
}

func metaOf(o runtime.Object) (metav1.Object, error) {
	m, ok := o.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", o)
	}
	return m, nil
}

// why says why a pod failed: its container's reason and exit code.
func why(p *corev1.Pod) string {
	for _, s := range p.Status.ContainerStatuses {
		if t := s.State.Terminated; t != nil {
			return fmt.Sprintf("%s, exit %d", t.Reason, t.ExitCode)
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	return "failed"
}

// Down removes the objects crosstalk created in namespace: those of run,
// or of every run if run is empty. It returns how many it removed.
func Down(ctx context.Context, client kubernetes.Interface, namespace, run string) (int, error) {
	sel := LabelManaged + "=" + Managed
	if run != "" {
		sel += "," + LabelRun + "=" + run
	}
	list := metav1.ListOptions{LabelSelector: sel}
	bg := metav1.DeletePropagationBackground
	del := metav1.DeleteOptions{PropagationPolicy: &bg}
	var errs []error
	n := 0
	count := func(err error) {
		switch {
		case err == nil:
			n++
		case !apierrors.IsNotFound(err):
			errs = append(errs, err)
		}
	}
	jobs, err := client.BatchV1().Jobs(namespace).List(ctx, list)
	if err != nil {
		return 0, fmt.Errorf("listing the Jobs of namespace %s: %w", namespace, err)
	}
	for _, j := range jobs.Items {
		count(client.BatchV1().Jobs(namespace).Delete(ctx, j.Name, del))
	}
	svcs, err := client.CoreV1().Services(namespace).List(ctx, list)
	if err != nil {
		return n, err
	}
	for _, s := range svcs.Items {
		count(client.CoreV1().Services(namespace).Delete(ctx, s.Name, del))
	}
	cms, err := client.CoreV1().ConfigMaps(namespace).List(ctx, list)
	if err != nil {
		return n, err
	}
	for _, c := range cms.Items {
		count(client.CoreV1().ConfigMaps(namespace).Delete(ctx, c.Name, del))
	}
	// Pods go with their Jobs (background propagation); a pod left by a
	// Job removed without it is removed here.
	pods, err := client.CoreV1().Pods(namespace).List(ctx, list)
	if err == nil {
		for _, p := range pods.Items {
			count(client.CoreV1().Pods(namespace).Delete(ctx, p.Name, del))
		}
	}
	return n, errors.Join(errs...)
}

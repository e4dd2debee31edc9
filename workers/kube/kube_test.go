package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	restclient "k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

func testSpec(t *testing.T) Spec {
	t.Helper()
	req, err := Resources("cpu=500m,memory=256Mi")
	require.NoError(t, err)
	lim, err := Resources("cpu=2,memory=1Gi")
	require.NoError(t, err)
	return Spec{Run: "a1b2c3d4", Namespace: "load", Image: "registry.example/crosstalk:v1", Workers: 8,
		Scenario: []byte("name: caf-2021\n"), ScenarioFile: "caf-2021.yaml", Args: []string{"--target", "url"},
		Requests: req, Limits: lim, Deadline: 20 * time.Minute}
}

// The manifest decodes strictly with client-go's scheme, as the objects
// the controller creates: an Indexed Job of N workers with their shard from
// JOB_COMPLETION_INDEX, the coordinator beside it, non-root pods with
// requests and limits, and labels to clean them up by.
func TestManifestDecodesStrictly(t *testing.T) {
	s := testSpec(t)
	var b bytes.Buffer
	require.NoError(t, Manifest(&b, Objects(s)))
	objs, err := Decode(b.Bytes())
	require.NoError(t, err)
	require.Len(t, objs, 4)
	var kinds []string
	for _, o := range objs {
		kinds = append(kinds, o.GetObjectKind().GroupVersionKind().Kind)
		m := o.(metav1.Object)
		assert.Equal(t, "load", m.GetNamespace())
		assert.Equal(t, Managed, m.GetLabels()[LabelManaged])
		assert.Equal(t, s.Run, m.GetLabels()[LabelRun])
	}
	assert.Equal(t, []string{"ConfigMap", "Service", "Job", "Job"}, kinds)
	assert.Equal(t, "name: caf-2021\n", objs[0].(*corev1.ConfigMap).Data["caf-2021.yaml"])

	workers := objs[3].(*batchv1.Job)
	require.NotNil(t, workers.Spec.CompletionMode)
	assert.Equal(t, batchv1.IndexedCompletion, *workers.Spec.CompletionMode)
	assert.Equal(t, int32(8), *workers.Spec.Completions)
	assert.Equal(t, int32(8), *workers.Spec.Parallelism)
	assert.Equal(t, int32(0), *workers.Spec.BackoffLimit, "a failed worker is not retried: it failed the run")
	assert.Equal(t, int64(1200), *workers.Spec.ActiveDeadlineSeconds)
	pod := workers.Spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy)
	c := pod.Containers[0]
	assert.Equal(t, []string{"worker"}, c.Args)
	assert.Equal(t, "registry.example/crosstalk:v1", c.Image)
	assert.Equal(t, []corev1.EnvVar{{Name: "CROSSTALK_COORDINATOR", Value: "http://crosstalk-a1b2c3d4-coordinator.load.svc:7070"}}, c.Env,
		"the shard comes from JOB_COMPLETION_INDEX, which the Job sets; nothing else")
	assert.Equal(t, "500m", c.Resources.Requests.Cpu().String())
	assert.Equal(t, "1Gi", c.Resources.Limits.Memory().String())
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.RunAsNonRoot)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)

	coord := objs[2].(*batchv1.Job).Spec.Template.Spec.Containers[0]
	args := strings.Join(coord.Args, " ")
	assert.Contains(t, args, "run /etc/crosstalk/caf-2021.yaml --target url --workers 8 --engine external")
	assert.Contains(t, args, "--coordinator-url http://crosstalk-a1b2c3d4-coordinator.load.svc:7070")
	svc := objs[1].(*corev1.Service)
	assert.Equal(t, map[string]string{LabelRun: s.Run, LabelRole: "coordinator"}, svc.Spec.Selector)

	// Strict: a field the scheme does not know is refused.
	bad := strings.Replace(b.String(), "completionMode: Indexed", "completionMode: Indexed\n  completionModes: Indexed", 1)
	_, err = Decode([]byte(bad))
	assert.ErrorContains(t, err, "completionModes")

	_, err = Resources("gpu=1")
	assert.Error(t, err)
	_, err = Resources("cpu=lots")
	assert.Error(t, err)
}

// cluster is a fake clientset whose coordinator answers through the
// service proxy with exit once answer is set.
type cluster struct {
	*fake.Clientset
	answer   atomic.Pointer[string]
	watching chan struct{}
}

func newCluster() *cluster {
	c := &cluster{Clientset: fake.NewClientset(), watching: make(chan struct{})}
	c.PrependWatchReactor("pods", func(k8stesting.Action) (bool, watch.Interface, error) {
		select {
		case <-c.watching:
		default:
			close(c.watching)
		}
		return false, nil, nil
	})
	c.AddProxyReactor("services", func(a k8stesting.Action) (bool, restclient.ResponseWrapper, error) {
		p := a.(k8stesting.ProxyGetAction)
		ans := c.answer.Load()
		if ans == nil {
			return true, refused{}, nil
		}
		switch p.GetPath() {
		case "/v1/exit":
			return true, proxied(*ans), nil
		case "/v1/reports":
			return true, proxied("tarball"), nil
		}
		return true, refused{}, nil
	})
	return c
}

// refused is a restclient.ResponseWrapper of a coordinator not up yet.
type refused struct{}

func (refused) DoRaw(context.Context) ([]byte, error) { return nil, errors.New("connection refused") }
func (refused) Stream(context.Context) (io.ReadCloser, error) {
	return nil, errors.New("connection refused")
}

// proxied is a restclient.ResponseWrapper answering body.
type proxied string

func (p proxied) DoRaw(context.Context) ([]byte, error) { return []byte(p), nil }
func (p proxied) Stream(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(strings.NewReader(string(p))), nil
}

func (c *cluster) count(t *testing.T, ns string) int {
	t.Helper()
	ctx := context.Background()
	jobs, err := c.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	svcs, err := c.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	cms, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	return len(jobs.Items) + len(svcs.Items) + len(cms.Items)
}

func runController(c *cluster, s Spec) (chan *Result, chan error) {
	res, errc := make(chan *Result, 1), make(chan error, 1)
	ctl := &Controller{Client: c, Spec: s, Poll: 10 * time.Millisecond, FailGrace: 300 * time.Millisecond}
	go func() {
		r, err := ctl.Run(context.Background())
		res <- r
		errc <- err
	}()
	return res, errc
}

// The controller creates the run's objects, waits for the coordinator's
// verdict, fetches the reports and removes what it created.
func TestControllerRunsAndCleansUp(t *testing.T) {
	c := newCluster()
	s := testSpec(t)
	res, errc := runController(c, s)
	<-c.watching
	assert.Equal(t, 4, c.count(t, "load"), "ConfigMap, Service and two Jobs created")
	job, err := c.BatchV1().Jobs("load").Get(context.Background(), s.Name("worker"), metav1.GetOptions{})
	require.NoError(t, err)
	assert.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	one := "1\n"
	c.answer.Store(&one)
	r := <-res
	require.NoError(t, <-errc)
	assert.Equal(t, 1, r.Exit, "the coordinator's exit status is the run's")
	assert.Equal(t, []byte("tarball"), r.Reports)
	assert.Zero(t, c.count(t, "load"), "everything the run created is gone")
}

// A worker pod that fails is named and, if the coordinator does not hand a
// verdict over, turned into exit 3; a coordinator that says 0 beside a
// failed worker is not believed.
func TestControllerFailedWorkerPodIsExit3(t *testing.T) {
	for _, coordinatorAnswers := range []bool{false, true} {
		c := newCluster()
		s := testSpec(t)
		res, errc := runController(c, s)
		<-c.watching
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: s.Name("worker") + "-3-xk2p", Namespace: "load",
			Labels:      map[string]string{LabelRun: s.Run, LabelRole: "worker", LabelManaged: Managed},
			Annotations: map[string]string{batchv1.JobCompletionIndexAnnotation: "3"}},
			Status: corev1.PodStatus{Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{{Name: "worker",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "OOMKilled", ExitCode: 137}}}}}}
		_, err := c.CoreV1().Pods("load").Create(context.Background(), pod, metav1.CreateOptions{})
		require.NoError(t, err)
		if coordinatorAnswers {
			time.Sleep(50 * time.Millisecond)
			zero := "0"
			c.answer.Store(&zero)
		}
		r := <-res
		err = <-errc
		assert.Equal(t, 3, r.Exit)
		require.Len(t, r.Failed, 1)
		assert.Contains(t, r.Failed[0], "worker 3")
		assert.Contains(t, r.Failed[0], "OOMKilled, exit 137")
		if !coordinatorAnswers {
			assert.ErrorContains(t, err, "did not end the run")
		}
		assert.Zero(t, c.count(t, "load"))
		pods, _ := c.CoreV1().Pods("load").List(context.Background(), metav1.ListOptions{})
		assert.Empty(t, pods.Items, "the failed pod went with its run")
	}
}

// Down removes the objects of crosstalk's runs, one run's or all, and
// nothing else of the namespace.
func TestDownRemovesOnlyCrosstalkObjects(t *testing.T) {
	a, b := testSpec(t), testSpec(t)
	b.Run = "ffff0000"
	var objs []runtime.Object
	objs = append(objs, Objects(a)...)
	objs = append(objs, Objects(b)...)
	objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "portal-config", Namespace: "load"}})
	c := fake.NewClientset(objs...)
	n, err := Down(context.Background(), c, "load", b.Run)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	n, err = Down(context.Background(), c, "load", "")
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	cms, err := c.CoreV1().ConfigMaps("load").List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, cms.Items, 1)
	assert.Equal(t, "portal-config", cms.Items[0].Name)
}

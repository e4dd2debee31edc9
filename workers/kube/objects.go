// Package kube runs a crosstalk scenario's workers on Kubernetes: one
// Indexed Job of N workers (the shard is the pod's JOB_COMPLETION_INDEX)
// and the coordinator beside them, as a Job with a Service the workers
// reach it by. The objects are built from the Kubernetes Go types, printed
// as YAML for GitOps users (crosstalk k8s manifest), created and watched by
// the Controller, and removed by Down.
package kube

import (
	"bytes"
	"fmt"
	"io"
	"path"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/scheme"
)

// Labels on every object of a run: Down removes what carries LabelManaged.
const (
	LabelName    = "app.kubernetes.io/name"
	LabelManaged = "app.kubernetes.io/managed-by"
	LabelRun     = "crosstalk.dev/run"
	LabelRole    = "crosstalk.dev/role"
	// Managed is the value of LabelManaged.
	Managed = "crosstalk"
)

// Port is the coordinator's, inside the cluster.
const Port = 7070

// Spec is one run on a cluster.
type Spec struct {
	// Run names the run: its objects' names and LabelRun.
	Run       string
	Namespace string
	Image     string
	Workers   int
	// Scenario is the scenario file, ScenarioFile its name.
	Scenario     []byte
	ScenarioFile string
	// Args are the coordinator's crosstalk run flags after the scenario
	// (the target, the overrides), without --workers and --out.
	Args []string
	// Requests and Limits are every pod's resources.
	Requests, Limits corev1.ResourceList
	// Deadline bounds both Jobs (activeDeadlineSeconds): the load's
	// duration and room to start, judge and hand the reports over.
	Deadline time.Duration
}

// Name returns the name of the run's object with suffix.
func (s Spec) Name(suffix string) string { return "crosstalk-" + s.Run + "-" + suffix }

// CoordinatorURL is where the workers reach the coordinator.
func (s Spec) CoordinatorURL() string {
	return fmt.Sprintf("http://%s.%s.svc:%d", s.Name("coordinator"), s.Namespace, Port)
}

func (s Spec) labels(role string) map[string]string {
	return map[string]string{LabelName: "crosstalk", LabelManaged: Managed, LabelRun: s.Run, LabelRole: role}
}

// Resources parses "cpu=500m,memory=512Mi".
func Resources(spec string) (corev1.ResourceList, error) {
	out := corev1.ResourceList{}
	if spec == "" {
		return out, nil
	}
	for _, kv := range bytes.Split([]byte(spec), []byte(",")) {
		k, v, ok := bytes.Cut(bytes.TrimSpace(kv), []byte("="))
		name := corev1.ResourceName(k)
		if !ok || (name != corev1.ResourceCPU && name != corev1.ResourceMemory) {
			return nil, fmt.Errorf("%q: want cpu=QUANTITY or memory=QUANTITY", kv)
		}
		q, err := resource.ParseQuantity(string(v))
		if err != nil {
			return nil, fmt.Errorf("%s=%s: %v", k, v, err)
		}
		out[name] = q
	}
	return out, nil
}

// Objects returns the run's objects: the scenario's ConfigMap, the
// coordinator's Service and Job, and the workers' Indexed Job.
func Objects(s Spec) []runtime.Object {
	meta := func(role string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: s.Name(role), Namespace: s.Namespace, Labels: s.labels(role)}
	}
	cm := &corev1.ConfigMap{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}, ObjectMeta: meta("scenario"),
		Data: map[string]string{s.ScenarioFile: string(s.Scenario)}}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"}, ObjectMeta: meta("coordinator"),
		Spec: corev1.ServiceSpec{Selector: map[string]string{LabelRun: s.Run, LabelRole: "coordinator"},
			Ports: []corev1.ServicePort{{Name: "coordinator", Port: Port, TargetPort: intstr.FromInt32(Port)}}}}

	args := append([]string{"run", path.Join("/etc/crosstalk", s.ScenarioFile)}, s.Args...)
	args = append(args, "--workers", strconv.Itoa(s.Workers), "--engine", "external",
		"--coordinator-listen", fmt.Sprintf(":%d", Port), "--coordinator-url", s.CoordinatorURL(),
		"--out", "/out", "--quiet", "--serve-reports", "10m")
	coordinator := s.job("coordinator", corev1.Container{Name: "coordinator", Args: args,
		Ports:        []corev1.ContainerPort{{Name: "coordinator", ContainerPort: Port}},
		VolumeMounts: []corev1.VolumeMount{{Name: "scenario", MountPath: "/etc/crosstalk", ReadOnly: true}, {Name: "out", MountPath: "/out"}}})
	pod := &coordinator.Spec.Template.Spec
	pod.Volumes = append(pod.Volumes,
		corev1.Volume{Name: "scenario", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm.Name}}}},
		corev1.Volume{Name: "out", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})

	workers := s.job("worker", corev1.Container{Name: "worker", Args: []string{"worker"},
		Env: []corev1.EnvVar{{Name: "CROSSTALK_COORDINATOR", Value: s.CoordinatorURL()}}})
	n := int32(s.Workers)
	indexed := batchv1.IndexedCompletion
	workers.Spec.Completions, workers.Spec.Parallelism, workers.Spec.CompletionMode = &n, &n, &indexed
	return []runtime.Object{cm, svc, coordinator, workers}
}

// job is a Job of one pod template: no retries (a worker that fails has
// failed the run, and the coordinator would not take it back), bounded in
// time, its pods non-root with nothing they do not need.
func (s Spec) job(role string, c corev1.Container) *batchv1.Job {
	c.Image = s.Image
	c.ImagePullPolicy = corev1.PullIfNotPresent
	c.Resources = corev1.ResourceRequirements{Requests: s.Requests, Limits: s.Limits}
	no, yes := false, true
	uid := int64(65532)
	c.SecurityContext = &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		RunAsNonRoot: &yes, RunAsUser: &uid, RunAsGroup: &uid,
		Capabilities:   &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	// The root file system is read-only: /tmp is the pod's own.
	c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "tmp", MountPath: "/tmp"})
	zero := int32(0)
	deadline := int64(s.Deadline / time.Second)
	labels := s.labels(role)
	return &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name(role), Namespace: s.Namespace, Labels: labels},
		Spec: batchv1.JobSpec{BackoffLimit: &zero, ActiveDeadlineSeconds: &deadline,
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{c},
					Volumes:                      []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
					AutomountServiceAccountToken: &no,
					SecurityContext:              &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, FSGroup: &uid}}}},
	}
}

// Manifest writes objs as YAML documents.
func Manifest(w io.Writer, objs []runtime.Object) error {
	ser := json.NewSerializerWithOptions(json.DefaultMetaFactory, scheme.Scheme, scheme.Scheme, json.SerializerOptions{Yaml: true})
	for i, o := range objs {
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return err
			}
		}
		if err := ser.Encode(o, w); err != nil {
			return err
		}
	}
	return nil
}

// Decode reads YAML documents as Manifest writes them, strictly: a field
// client-go's scheme does not know is an error.
func Decode(b []byte) ([]runtime.Object, error) {
	dec := serializer.NewCodecFactory(scheme.Scheme, serializer.EnableStrict).UniversalDeserializer()
	var out []runtime.Object
	for i, doc := range bytes.Split(b, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		o, _, err := dec.Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

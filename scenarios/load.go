// Package scenarios loads and validates scenario files, and embeds the
// scenarios crosstalk ships (smoke gate, incident reproductions, soak).
//
// Files are decoded strictly: an unknown key anywhere, a fault parameter
// included, is an error naming the file, the line and the key, with the
// closest known key as a suggestion. A fault entry is decoded in two passes:
// its envelope (type, at, for) first, then the rest into the parameters of
// the fault type it names.
package scenarios

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/crosstalk-dev/crosstalk/harness"
)

//go:embed *.yaml
var shipped embed.FS

// Names returns the names of the shipped scenarios, sorted.
func Names() []string {
	entries, _ := fs.ReadDir(shipped, ".")
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(out)
	return out
}

// Load reads the scenario at path; a path that does not exist on disk but
// names a shipped scenario ("caf-2021", "caf-2021.yaml") loads that one.
// Every error is a harness.Error of class bad input.
func Load(path string) (*harness.Scenario, error) {
	data, err := Source(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Source returns the YAML of the scenario at path, resolved as Load does:
// the file, or the shipped scenario of that bare name.
func Source(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		// A shipped scenario is named bare (caf-2021); a path that does
		// not exist is an error, never silently the shipped file of the
		// same name.
		if strings.ContainsRune(path, os.PathSeparator) || strings.ContainsRune(path, '/') || filepath.Ext(path) != "" {
			return nil, harness.BadInput("scenario %s: no such file (a shipped scenario is named without a path or .yaml: %s)",
				path, strings.Join(Names(), ", "))
		}
		b, e := shipped.ReadFile(path + ".yaml")
		if e != nil {
			return nil, harness.BadInput("scenario %s: no such file or shipped scenario (shipped: %s)", path, strings.Join(Names(), ", "))
		}
		return b, nil
	}
	if err != nil {
		return nil, harness.BadInput("scenario %s: %v", path, err)
	}
	return data, nil
}

// Parse decodes and validates a scenario; name is used in messages.
func Parse(name string, data []byte) (*harness.Scenario, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, harness.BadInput("%s", yamlMessage(name, err, &root))
	}
	if len(root.Content) == 0 {
		return nil, harness.BadInput("%s: empty scenario", name)
	}
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, harness.BadInput("%s", yamlMessage(name, err, &root))
	}
	sc := f.Scenario
	sc.Path = name
	var errs []error
	for i := range f.Faults {
		spec, err := decodeFault(name, i, &f.Faults[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sc.Faults = append(sc.Faults, spec)
	}
	if len(errs) == 0 {
		if err := sc.Validate(); err != nil {
			lines := index(&root)
			for _, e := range flatten(err) {
				errs = append(errs, located(name, lines, e))
			}
		}
	}
	if len(errs) > 0 {
		return nil, &harness.Error{Class: harness.ClassBadInput, Err: errors.Join(errs...)}
	}
	return &sc, nil
}

// file is a scenario as written: faults are kept as nodes for the second pass.
type file struct {
	harness.Scenario `yaml:",inline"`
	Faults           []yaml.Node `yaml:"faults"`
}

// decodeFault reads one fault entry: the envelope, then the parameters into
// the struct of the fault type the entry names.
func decodeFault(name string, i int, n *yaml.Node) (harness.FaultSpec, error) {
	path := fmt.Sprintf("faults[%d]", i)
	spec := harness.FaultSpec{Path: path}
	if n.Kind != yaml.MappingNode {
		return spec, fmt.Errorf("%s:%d: %s: want a mapping with type, at, for and the fault's parameters", name, n.Line, path)
	}
	params := &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	var typeNode *yaml.Node
	var errs []error
	for j := 0; j+1 < len(n.Content); j += 2 {
		k, v := n.Content[j], n.Content[j+1]
		var err error
		switch k.Value {
		case "type":
			typeNode = v
			spec.Type = v.Value
		case "at":
			err = spec.At.UnmarshalText([]byte(v.Value))
		case "for":
			err = spec.For.UnmarshalText([]byte(v.Value))
		default:
			params.Content = append(params.Content, k, v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: %s.%s: %v", name, v.Line, path, k.Value, err))
		}
	}
	if typeNode == nil {
		return spec, errors.Join(append(errs, fmt.Errorf("%s:%d: %s.type: missing: name the fault (known: %s)",
			name, n.Line, path, strings.Join(harness.FaultTypes(), ", ")))...)
	}
	fault, err := harness.NewFault(spec.Type)
	if err != nil {
		return spec, errors.Join(append(errs, fmt.Errorf("%s:%d: %s.type: %v", name, typeNode.Line, path, err))...)
	}
	known := yamlKeys(fault)
	for j := 0; j+1 < len(params.Content); j += 2 {
		k := params.Content[j]
		if !known[k.Value] {
			errs = append(errs, fmt.Errorf("%s:%d: %s: unknown key %q for fault %s%s", name, k.Line, path, k.Value, spec.Type,
				suggest(k.Value, append(keys(known), "type", "at", "for"))))
		}
	}
	if len(errs) == 0 && len(params.Content) > 0 {
		if err := params.Decode(fault); err != nil {
			errs = append(errs, errors.New(yamlMessage(name, err, n)))
		}
	}
	spec.Fault = fault
	return spec, errors.Join(errs...)
}

// yamlKeys returns the yaml keys of the exported fields of the struct v
// points to.
func yamlKeys(v any) map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(v)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return out
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == "-" {
			continue
		}
		if tag == "" {
			tag = strings.ToLower(f.Name)
		}
		out[tag] = true
	}
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	reLine    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	reUnknown = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
)

// yamlMessage turns a yaml.v3 error into "file:line: message" lines.
func yamlMessage(name string, err error, root *yaml.Node) string {
	var te *yaml.TypeError
	var msgs []string
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	var out []string
	for _, m := range msgs {
		sm := reLine.FindStringSubmatch(m)
		if sm == nil {
			line := 0
			var we *harness.WhenError
			if errors.As(err, &we) {
				line = scalarLine(root, we.Value)
			}
			if line > 0 {
				out = append(out, fmt.Sprintf("%s:%d: %s", name, line, strings.TrimPrefix(m, "yaml: ")))
			} else {
				out = append(out, fmt.Sprintf("%s: %s", name, strings.TrimPrefix(m, "yaml: ")))
			}
			continue
		}
		line, msg := sm[1], sm[2]
		if um := reUnknown.FindStringSubmatch(msg); um != nil {
			msg = fmt.Sprintf("unknown key %q%s", um[1], suggest(um[1], knownKeysNear(root, line, um[1])))
		}
		out = append(out, fmt.Sprintf("%s:%s: %s", name, line, msg))
	}
	return strings.Join(out, "\n")
}

// knownKeysNear returns the keys a misspelled key could have meant: the
// fields of the struct that the mapping holding it decodes into.
func knownKeysNear(root *yaml.Node, line, key string) []string {
	want, _ := strconv.Atoi(line)
	var path []string
	var walk func(n *yaml.Node, p []string) bool
	walk = func(n *yaml.Node, p []string) bool {
		if n.Kind == yaml.DocumentNode {
			for _, c := range n.Content {
				if walk(c, p) {
					return true
				}
			}
		}
		if n.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(n.Content); j += 2 {
				k := n.Content[j]
				if k.Value == key && k.Line == want {
					path = p
					return true
				}
				if walk(n.Content[j+1], append(p, k.Value)) {
					return true
				}
			}
		}
		return false
	}
	walk(root, nil)
	t := reflect.TypeOf(harness.Scenario{})
	for _, p := range path {
		f, ok := fieldByYAML(t, p)
		if !ok {
			return nil
		}
		t = f.Type
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := keys(yamlKeys(reflect.New(t).Interface()))
	if len(path) == 0 {
		names = append(names, "faults")
	}
	return names
}

func fieldByYAML(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if tag == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// suggest returns ` (did you mean "x"?)` for the known key closest to key.
func suggest(key string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		if len(known) > 0 {
			return " (known: " + strings.Join(known, ", ") + ")"
		}
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// index maps every key path in the document ("rate.peak", "faults[0].type")
// to the line of its key.
func index(root *yaml.Node) map[string]int {
	out := map[string]int{}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for j := 0; j+1 < len(n.Content); j += 2 {
				p := n.Content[j].Value
				if path != "" {
					p = path + "." + p
				}
				out[p] = n.Content[j].Line
				walk(n.Content[j+1], p)
			}
		case yaml.SequenceNode:
			for j, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, j)
				out[p] = c.Line
				walk(c, p)
			}
		}
	}
	walk(root, "")
	return out
}

func scalarLine(root *yaml.Node, value string) int {
	var line int
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if line == 0 && n.Kind == yaml.ScalarNode && n.Value == value {
			line = n.Line
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	return line
}

func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// located prefixes a validation error with file and line.
func located(name string, lines map[string]int, err error) error {
	var fe *harness.FieldError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%s: %w", name, err)
	}
	for p := fe.Path; p != ""; {
		if l, ok := lines[p]; ok {
			return fmt.Errorf("%s:%d: %w", name, l, err)
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return fmt.Errorf("%s: %w", name, err)
}

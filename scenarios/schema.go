package scenarios

import (
	"encoding/json"
	"reflect"
	"time"

	"github.com/invopop/jsonschema"

	"github.com/crosstalk-dev/crosstalk/harness"
)

// SchemaFile is the JSON Schema of scenario files shipped beside them, for
// editors: add "# yaml-language-server: $schema=scenario.schema.json" to a
// scenario. TestSchemaIsCurrent keeps it in step with the types.
const SchemaFile = "scenario.schema.json"

// Schema returns the JSON Schema of a scenario file, generated from
// harness.Scenario and from every registered fault's parameters.
func Schema() ([]byte, error) {
	durations := &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`,
		Description: "a Go duration such as 500ms, 20s or 1m30s"}
	when := &jsonschema.Schema{Type: "string", Pattern: `^(([0-9]+(\.[0-9]+)?%)|(([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+))$`,
		Description: "a duration (20s) or a fraction of the run (40%)"}
	share := &jsonschema.Schema{OneOf: []*jsonschema.Schema{
		{Type: "number", Minimum: json.Number("0")},
		{Type: "string", Pattern: `^[0-9]+(\.[0-9]+)?%$`},
	}, Description: "a share: 20% or 0.2"}
	r := &jsonschema.Reflector{FieldNameTag: "yaml", ExpandedStruct: true, DoNotReference: true, RequiredFromJSONSchemaTags: true,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			switch t {
			case reflect.TypeOf(time.Duration(0)):
				return durations
			case reflect.TypeOf(harness.When{}):
				return when
			case reflect.TypeOf(harness.Fraction(0)):
				return share
			}
			return nil
		}}
	s := r.Reflect(&harness.Scenario{})
	s.Title = "crosstalk scenario"
	s.Required = []string{"name", "duration", "users", "rate"}

	var variants []*jsonschema.Schema
	for _, name := range harness.FaultTypes() {
		f, _ := harness.NewFault(name)
		v := r.Reflect(f)
		v.Version, v.ID = "", ""
		v.Description = harness.FaultDoc(name)
		v.Properties.Set("type", &jsonschema.Schema{Const: name})
		v.Properties.Set("at", when)
		v.Properties.Set("for", when)
		v.Required = []string{"type", "at"}
		variants = append(variants, v)
	}
	// Limits by target sit beside the limits themselves
	// (thresholds.containers: {...}): any other key is a target's name.
	if th, ok := s.Properties.Get("thresholds"); ok {
		byTarget := *th
		byTarget.Description = "limits on the target of this name, in place of the ones above"
		th.AdditionalProperties = &byTarget
		th.Properties.Delete("by_target")
	}
	s.Properties.Set("faults", &jsonschema.Schema{Type: "array", Items: &jsonschema.Schema{OneOf: variants},
		Description: "the fault schedule: each entry's type picks its parameters"})
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

package scenarios

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crosstalk-dev/crosstalk/harness"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite scenario.schema.json")

// TestSchemaIsCurrent fails when the types changed and the published schema
// did not: run go test ./scenarios -update.
func TestSchemaIsCurrent(t *testing.T) {
	got, err := Schema()
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.WriteFile(SchemaFile, got, 0o644))
	}
	want, err := os.ReadFile(SchemaFile)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "scenario.schema.json is stale: go test ./scenarios -update")

	var s map[string]any
	require.NoError(t, json.Unmarshal(got, &s))
	props := s["properties"].(map[string]any)
	for _, k := range []string{"name", "duration", "users", "rate", "faults", "thresholds", "advisers", "journeys"} {
		assert.Contains(t, props, k)
	}
	assert.Equal(t, false, s["additionalProperties"], "unknown keys are errors, as in the loader")
	variants := props["faults"].(map[string]any)["items"].(map[string]any)["oneOf"].([]any)
	assert.Len(t, variants, len(harness.FaultTypes()), "one variant per registered fault")
}

// TestShippedScenariosMatchTheSchema validates every shipped scenario
// against the schema: an editor must never flag a file the loader accepts.
func TestShippedScenariosMatchTheSchema(t *testing.T) {
	raw, err := Schema()
	require.NoError(t, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(t, err)
	c := jsonschema.NewCompiler()
	require.NoError(t, c.AddResource("scenario.schema.json", doc))
	sch, err := c.Compile("scenario.schema.json")
	require.NoError(t, err)
	for _, n := range Names() {
		b, err := shipped.ReadFile(n + ".yaml")
		require.NoError(t, err)
		var v any
		require.NoError(t, yaml.Unmarshal(b, &v))
		j, err := json.Marshal(v)
		require.NoError(t, err)
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
		require.NoError(t, err)
		assert.NoError(t, sch.Validate(inst), n)
	}
	// And a typo is flagged by the schema as by the loader.
	var bad any
	require.NoError(t, yaml.Unmarshal([]byte("name: x\nusres: 3\n"), &bad))
	j, _ := json.Marshal(bad)
	inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	assert.Error(t, sch.Validate(inst))
}

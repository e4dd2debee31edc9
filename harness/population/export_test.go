package population

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExport(t *testing.T) {
	p, err := New(11, 2500, DefaultMix, WithAdvisers(10))
	require.NoError(t, err)

	var b bytes.Buffer
	require.NoError(t, p.Export(&b, "csv", nil))
	rows, err := csv.NewReader(&b).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2501)
	assert.Equal(t, exportColumns, rows[0])
	u := p.User(1234)
	assert.Equal(t, []string{"1234", u.NIR, u.CAF, u.Number}, rows[1235][:4])
	got, ok := p.DecodeNIR([]byte(rows[1235][1]))
	assert.True(t, ok && got == 1234, "exported values are the canaries")

	b.Reset()
	require.NoError(t, p.Export(&b, "json", nil))
	var users []map[string]any
	require.NoError(t, json.Unmarshal(b.Bytes(), &users))
	require.Len(t, users, 2500)
	assert.Equal(t, u.IBAN, users[1234]["iban"])
	assert.Equal(t, p.InitialPassword(1234), users[1234]["password"])
	assert.Equal(t, p.Staff().Login(p.Staff().Of(1234)), users[1234]["adviser"])

	b.Reset()
	require.NoError(t, p.Export(&b, "sql", nil))
	sql := b.String()
	assert.Contains(t, sql, "CREATE TABLE IF NOT EXISTS crosstalk_users")
	assert.Equal(t, 3, strings.Count(sql, "INSERT INTO crosstalk_users"), "batches of 1000")
	assert.True(t, strings.Contains(sql, "'"+u.NIR+"'"), "the NIR is a quoted value")
	assert.True(t, strings.HasSuffix(sql, ");\n"))
	assert.True(t, strings.Contains(sql, "de l''Eglise'"), "quotes are escaped") // a street name
	assert.False(t, strings.Contains(sql, "de l'Eglise"), "no quote is left unescaped")
	assert.ErrorContains(t, p.Export(&b, "xml", nil), `unknown format "xml" (known: csv, json, sql)`)
}

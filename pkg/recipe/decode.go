package recipe

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem with one field of a recipe. Decode, Load and
// Validate return them joined with errors.Join, so every problem is
// reported at once.
type FieldError struct {
	// File is the recipe file, or "--set PATH=VALUE" for a value given on
	// the command line; "" when the value is a default.
	File string
	// Line is the 1-based line in File; 0 when unknown.
	Line int
	// Path is the field's YAML path, e.g. "optim.lr"; "" for the document.
	Path string
	// Msg says what is wrong and what is expected.
	Msg string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Problems returns the FieldErrors joined in err (nil when there are none).
func Problems(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		switch e := err.(type) {
		case *FieldError:
			out = append(out, e)
		case interface{ Unwrap() []error }:
			for _, u := range e.Unwrap() {
				walk(u)
			}
		case interface{ Unwrap() error }:
			walk(e.Unwrap())
		}
	}
	walk(err)
	return out
}

// Load reads a recipe file, applies the --set overrides (each "PATH=VALUE",
// see Decode), fills the defaults and validates the result. Every problem is
// reported, each naming the file and line (or the --set) and the field.
// Paths on disk are not checked; see CheckPaths.
func Load(path string, sets ...string) (*Recipe, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data, sets...)
}

// Parse is Load on the bytes of a file named name.
func Parse(name string, data []byte, sets ...string) (*Recipe, error) {
	r, src, err := decode(name, data, sets)
	if err != nil {
		return nil, err
	}
	if err := r.Validate(); err != nil {
		return nil, src.locate(err)
	}
	return r, nil
}

// Decode reads a recipe from data (name is used in messages), applies the
// overrides and fills the defaults, without validating. Decoding is strict:
// an unknown key, a duplicate key or a value of the wrong type is an error
// naming the file, line and field. An override "PATH=VALUE" sets the field
// at a YAML path such as optim.lr before decoding, so its value is
// type-checked as the file's are; a string field takes VALUE verbatim, any
// other field reads it as a YAML scalar (1e-6, true, 100000). A null value
// in the file leaves the field at its default.
func Decode(name string, data []byte, sets ...string) (*Recipe, error) {
	r, _, err := decode(name, data, sets)
	return r, err
}

// sources remembers where each field's value came from, to point
// validation errors at it.
type sources map[string]*FieldError

// locate fills in the file and line of each FieldError in err whose value
// came from the file or a --set.
func (s sources) locate(err error) error {
	ps := Problems(err)
	if len(ps) == 0 {
		return err
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		if at, ok := s[p.Path]; ok && p.File == "" {
			q := *p
			q.File, q.Line = at.File, at.Line
			p = &q
		}
		errs[i] = p
	}
	return errors.Join(errs...)
}

func decode(name string, data []byte, sets []string) (r *Recipe, src sources, err error) {
	defer func() {
		// yaml.v3 is outside code; a panic in it is a decoding error here.
		if p := recover(); p != nil {
			r, src, err = nil, nil, &FieldError{File: name, Msg: fmt.Sprintf("cannot parse YAML: %v", p)}
		}
	}()
	root, err := parseDocument(name, data)
	if err != nil {
		return nil, nil, err
	}
	d := &decoder{file: name, origin: map[*yaml.Node]string{}, src: sources{}}
	if err := d.applySets(root, sets); err != nil {
		return nil, nil, err
	}
	rec := Default(peekKind(root))
	d.structure(root, reflect.ValueOf(&rec).Elem(), "")
	if len(d.errs) > 0 {
		return nil, nil, errors.Join(d.errs...)
	}
	fillDependent(&rec, name, func(p string) bool { _, ok := d.src[p]; return ok })
	return &rec, d.src, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// parseDocument parses data into the root mapping node (a fresh empty
// mapping for an empty file). More than one document is an error.
func parseDocument(name string, data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if err == io.EOF {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, nil
	}
	if err != nil {
		return nil, yamlError(name, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			return nil, yamlError(name, err)
		}
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, &FieldError{File: name, Line: line, Msg: "a recipe is one YAML document; found a second one"}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) != 1 {
			return nil, &FieldError{File: name, Msg: "expected one YAML mapping"}
		}
		root = root.Content[0]
	}
	if isNull(root) {
		return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: root.Line}, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, &FieldError{File: name, Line: root.Line, Msg: "expected a mapping of sections (model, task, method, ...), got " + describe(root)}
	}
	return root, nil
}

func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &FieldError{File: name, Line: line, Msg: "invalid YAML: " + m[2]}
	}
	return &FieldError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// peekKind finds method.kind in the tree, to pick the defaults to decode
// onto.
func peekKind(root *yaml.Node) Kind {
	if m := lookup(root, "method"); m != nil {
		if k := lookup(m, "kind"); k != nil && k.Kind == yaml.ScalarNode {
			return Kind(k.Value)
		}
	}
	return ""
}

// lookup returns the value of key in a mapping node (aliases followed), or
// nil.
func lookup(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// deref follows aliases (a bounded number of times: yaml.v3 rejects
// cycles, and our schema is two levels deep).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names what a node holds, for "expected X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Value == "" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0 {
			return "nothing"
		}
		return strconv.Quote(n.Value)
	}
	return "an unexpected YAML node"
}

// decoder decodes a node tree onto a Recipe by its yaml tags, collecting
// every error.
type decoder struct {
	file   string
	origin map[*yaml.Node]string // nodes made by --set: the override's text
	src    sources               // YAML paths given, and where
	errs   []error
}

// at is the position of n: the file and line, or the --set that made it.
func (d *decoder) at(n *yaml.Node) *FieldError {
	if o, ok := d.origin[n]; ok {
		return &FieldError{File: o}
	}
	return &FieldError{File: d.file, Line: n.Line}
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	e := d.at(n)
	e.Path, e.Msg = path, fmt.Sprintf(format, args...)
	d.errs = append(d.errs, e)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// structure decodes a mapping onto the struct v.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	n = deref(n)
	if n == nil || isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		what := "a mapping of " + strings.Join(fieldNames(v.Type()), ", ")
		d.fail(n, path, "expected %s, got %s", what, describe(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := deref(n.Content[i]), n.Content[i+1]
		if kn == nil || kn.Kind != yaml.ScalarNode {
			d.fail(n.Content[i], path, "keys must be plain names")
			continue
		}
		key := kn.Value
		p := join(path, key)
		if first, dup := seen[key]; dup {
			d.fail(kn, p, "duplicate key (first at line %d)", first.Line)
			continue
		}
		seen[key] = kn
		f, ok := fieldByTag(v.Type(), key)
		if !ok {
			d.fail(kn, path, "unknown key %q%s (known: %s)", key, suggest(key, fieldNames(v.Type())), strings.Join(fieldNames(v.Type()), ", "))
			continue
		}
		fv := v.FieldByIndex(f.Index)
		if fv.Kind() == reflect.Struct {
			d.structure(vn, fv, p)
			if !isNull(deref(vn)) {
				d.src[p] = d.at(kn)
			}
			continue
		}
		d.scalar(vn, fv, p)
	}
}

// scalar decodes a scalar node onto a string, bool, int or float64 field.
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) {
	orig := n
	if n = deref(n); n == nil {
		d.fail(orig, path, "alias chain too long")
		return
	}
	if isNull(n) {
		return // null: keep the default
	}
	want := map[reflect.Kind]string{
		reflect.String: "a string", reflect.Bool: "true or false",
		reflect.Int: "an integer", reflect.Float64: "a number",
	}[v.Kind()]
	if want == "" {
		d.fail(n, path, "internal error: unsupported field type %s", v.Type())
		return
	}
	if n.Kind != yaml.ScalarNode {
		d.fail(n, path, "expected %s, got %s", want, describe(n))
		return
	}
	tag := n.ShortTag()
	bad := func() { d.fail(n, path, "expected %s, got %s", want, describe(n)) }
	switch v.Kind() {
	case reflect.String:
		switch tag {
		case "!!str", "!!int", "!!float", "!!bool":
			v.SetString(n.Value)
		default:
			bad()
			return
		}
	case reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			bad()
			return
		}
		v.SetBool(b)
	case reflect.Int:
		i, ok := intValue(n)
		if !ok {
			bad()
			return
		}
		v.SetInt(i)
	case reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			bad()
			return
		}
		v.SetFloat(f)
	}
	d.src[path] = d.at(n)
}

// intValue reads an integer scalar; a float that is an exact integer
// (1e5) is accepted too.
func intValue(n *yaml.Node) (int64, bool) {
	switch n.ShortTag() {
	case "!!int":
		var i int64
		if n.Decode(&i) != nil || i < math.MinInt || i > math.MaxInt {
			return 0, false
		}
		return i, true
	case "!!float":
		var f float64
		if n.Decode(&f) != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		return int64(f), true
	}
	return 0, false
}

// fieldByTag finds the struct field of t whose yaml tag names key.
func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if tagName(f) == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	return name
}

// fieldNames lists the yaml keys of a struct type, in order.
func fieldNames(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if n := tagName(t.Field(i)); n != "" && n != "-" {
			out = append(out, n)
		}
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for the closest of names to s, if
// one is close.
func suggest(s string, names []string) string {
	best, bestD := "", 1<<30
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	if best == "" || bestD > max(2, len(s)/3) {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

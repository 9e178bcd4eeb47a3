package recipe

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

var recipeType = reflect.TypeOf(Recipe{})

// Paths lists the YAML path of every field of a recipe, in schema order
// (name, description, reference, model.path, ...). These are the paths
// --set accepts.
func Paths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			p := join(prefix, tagName(f))
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p)
				continue
			}
			out = append(out, p)
		}
	}
	walk(recipeType, "")
	return out
}

// leafType returns the Go type of the field at a YAML path.
func leafType(path string) (reflect.Type, error) {
	t := recipeType
	keys := strings.Split(path, ".")
	for i, k := range keys {
		f, ok := fieldByTag(t, k)
		if !ok {
			return nil, fmt.Errorf("unknown field%s", suggest(path, Paths()))
		}
		t = f.Type
		if t.Kind() == reflect.Struct && i == len(keys)-1 {
			return nil, fmt.Errorf("is a section; set one of its fields: %s.%s",
				path, strings.Join(fieldNames(t), ", "+path+"."))
		}
		if t.Kind() != reflect.Struct && i < len(keys)-1 {
			return nil, fmt.Errorf("unknown field: %s is not a section", strings.Join(keys[:i+1], "."))
		}
	}
	return t, nil
}

// applySets applies every override to the tree, reporting every bad one.
func (d *decoder) applySets(root *yaml.Node, sets []string) error {
	var errs []error
	for _, s := range sets {
		if err := d.applySet(root, s); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applySet sets the node at PATH to VALUE, creating sections as needed.
func (d *decoder) applySet(root *yaml.Node, s string) error {
	origin := "--set " + s
	path, value, ok := strings.Cut(s, "=")
	path = strings.TrimSpace(path)
	if !ok || path == "" {
		return &FieldError{File: origin, Msg: "expected PATH=VALUE, e.g. optim.lr=1e-6"}
	}
	t, err := leafType(path)
	if err != nil {
		return &FieldError{File: origin, Path: path, Msg: err.Error()}
	}
	keys := strings.Split(path, ".")
	n := root
	for i, k := range keys[:len(keys)-1] {
		idx := keyIndex(n, k)
		if idx < 0 {
			m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			d.origin[m] = origin
			n.Content = append(n.Content, d.key(k, origin), m)
			n = m
			continue
		}
		v := n.Content[idx]
		if v.Kind == yaml.AliasNode {
			// Copy the aliased section, so that setting one field does not
			// change every section that shares the anchor.
			if target := deref(v); target != nil {
				cp := *target
				cp.Anchor = ""
				cp.Content = append([]*yaml.Node(nil), target.Content...)
				v = &cp
				n.Content[idx] = v
			}
		}
		if isNull(v) {
			v = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			d.origin[v] = origin
			n.Content[idx] = v
		}
		if v.Kind != yaml.MappingNode {
			return &FieldError{File: origin, Path: strings.Join(keys[:i+1], "."),
				Msg: fmt.Sprintf("%s:%d holds %s, not a section", d.file, v.Line, describe(v))}
		}
		n = v
	}
	leaf := scalarFor(t, value)
	d.origin[leaf] = origin
	if idx := keyIndex(n, keys[len(keys)-1]); idx >= 0 {
		n.Content[idx] = leaf
	} else {
		n.Content = append(n.Content, d.key(keys[len(keys)-1], origin), leaf)
	}
	return nil
}

func (d *decoder) key(k, origin string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k}
	d.origin[n] = origin
	return n
}

// keyIndex returns the index in n.Content of the value of key, or -1.
func keyIndex(n *yaml.Node, key string) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := deref(n.Content[i]); k != nil && k.Kind == yaml.ScalarNode && k.Value == key {
			return i + 1
		}
	}
	return -1
}

// scalarFor makes the node an override's value stands for: the text itself
// for a string field, else the YAML scalar it parses as (or the text as a
// string, which decoding then reports as the wrong type).
func scalarFor(t reflect.Type, value string) *yaml.Node {
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value, Style: yaml.DoubleQuotedStyle}
	if t.Kind() == reflect.String || strings.TrimSpace(value) == "" {
		return str
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(value), &doc); err != nil ||
		doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.ScalarNode {
		return str
	}
	n := *doc.Content[0]
	n.Line, n.Column = 0, 0
	return &n
}

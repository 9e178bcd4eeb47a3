package lmbff

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Mapping is a parsed label-to-word mapping: the label keys (as strings:
// python's {0:'terrible'} and {'0':'terrible'} both give key "0") with their
// words, in the order written.
type Mapping struct {
	Keys  []string
	Words map[string]string
}

// ParseMapping parses the reference's --mapping: a python dict literal such
// as "{'0':'terrible','1':'great'}" or "{0:'terrible',1:'great'}" (keys
// strings or integers, values strings; single- or double-quoted, with python
// escapes, adjacent literals concatenated, a trailing comma allowed). A JSON
// object or a YAML mapping is accepted too. Duplicate keys are an error
// (python would keep the last silently).
func ParseMapping(s string) (*Mapping, error) {
	p := &pyParser{src: s}
	m, err := p.dict()
	if err == nil {
		return m, nil
	}
	// JSON is YAML; YAML also covers "0: terrible" lines and the like.
	if ym, yerr := mappingFromYAML(s); yerr == nil {
		return ym, nil
	}
	return nil, fmt.Errorf("lmbff: mapping %q: %v", s, err)
}

func mappingFromYAML(s string) (*Mapping, error) {
	var node yaml.Node
	if err := yaml.Unmarshal([]byte(s), &node); err != nil {
		return nil, err
	}
	if node.Kind != yaml.DocumentNode || len(node.Content) != 1 || node.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("not a mapping")
	}
	mn := node.Content[0]
	m := &Mapping{Words: map[string]string{}}
	for i := 0; i+1 < len(mn.Content); i += 2 {
		k, v := mn.Content[i], mn.Content[i+1]
		if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode ||
			(k.Tag != "!!str" && k.Tag != "!!int") || v.Tag != "!!str" || v.Value == "" {
			return nil, fmt.Errorf("keys must be strings or integers and words non-empty strings")
		}
		if err := m.add(k.Value, v.Value); err != nil {
			return nil, err
		}
	}
	if len(m.Keys) == 0 {
		return nil, fmt.Errorf("empty mapping")
	}
	return m, nil
}

func (m *Mapping) add(k, v string) error {
	if _, dup := m.Words[k]; dup {
		return fmt.Errorf("duplicate key %q", k)
	}
	m.Keys = append(m.Keys, k)
	m.Words[k] = v
	return nil
}

// pyParser parses the small subset of python literals a mapping uses.
type pyParser struct {
	src string
	pos int
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *pyParser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *pyParser) dict() (*Mapping, error) {
	m := &Mapping{Words: map[string]string{}}
	p.skipSpace()
	if p.peek() != '{' {
		return nil, p.errorf("want '{'")
	}
	p.pos++
	for {
		p.skipSpace()
		if p.peek() == '}' {
			p.pos++
			break
		}
		k, err := p.key()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ':' {
			return nil, p.errorf("want ':'")
		}
		p.pos++
		p.skipSpace()
		v, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := m.add(k, v); err != nil {
			return nil, err
		}
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
		default:
			return nil, p.errorf("want ',' or '}'")
		}
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, p.errorf("trailing text")
	}
	if len(m.Keys) == 0 {
		return nil, fmt.Errorf("empty mapping")
	}
	return m, nil
}

func (p *pyParser) key() (string, error) {
	c := p.peek()
	if c == '\'' || c == '"' {
		return p.str()
	}
	start := p.pos
	if c == '-' || c == '+' {
		p.pos++
	}
	for p.pos < len(p.src) && (p.src[p.pos] >= '0' && p.src[p.pos] <= '9' || p.src[p.pos] == '_') {
		p.pos++
	}
	lit := p.src[start:p.pos]
	v, err := strconv.ParseInt(strings.ReplaceAll(lit, "_", ""), 10, 64)
	if err != nil {
		p.pos = start
		return "", p.errorf("want a string or integer key")
	}
	return strconv.FormatInt(v, 10), nil
}

// str parses one or more adjacent python string literals.
func (p *pyParser) str() (string, error) {
	var b strings.Builder
	n := 0
	for {
		p.skipSpace()
		c := p.peek()
		if c != '\'' && c != '"' {
			if n == 0 {
				return "", p.errorf("want a quoted string")
			}
			return b.String(), nil
		}
		p.pos++
		for {
			if p.pos >= len(p.src) {
				return "", p.errorf("unterminated string")
			}
			r, size := utf8.DecodeRuneInString(p.src[p.pos:])
			if r == utf8.RuneError && size <= 1 {
				return "", p.errorf("invalid UTF-8")
			}
			if r == rune(c) {
				p.pos++
				break
			}
			if r == '\n' {
				return "", p.errorf("newline in string")
			}
			if r != '\\' {
				b.WriteRune(r)
				p.pos += size
				continue
			}
			if err := p.escape(&b); err != nil {
				return "", err
			}
		}
		n++
	}
}

func (p *pyParser) escape(b *strings.Builder) error {
	p.pos++ // the backslash
	if p.pos >= len(p.src) {
		return p.errorf("unterminated escape")
	}
	c := p.src[p.pos]
	p.pos++
	simple := map[byte]string{'\\': "\\", '\'': "'", '"': "\"", 'n': "\n", 't': "\t", 'r': "\r",
		'a': "\a", 'b': "\b", 'f': "\f", 'v': "\v", '\n': ""}
	if s, ok := simple[c]; ok {
		b.WriteString(s)
		return nil
	}
	digits := map[byte]int{'x': 2, 'u': 4, 'U': 8}
	if n, ok := digits[c]; ok {
		if p.pos+n > len(p.src) {
			return p.errorf("short \\%c escape", c)
		}
		v, err := strconv.ParseUint(p.src[p.pos:p.pos+n], 16, 32)
		if err != nil || v > utf8.MaxRune {
			return p.errorf("bad \\%c escape", c)
		}
		p.pos += n
		b.WriteRune(rune(v))
		return nil
	}
	if c >= '0' && c <= '7' {
		v := int(c - '0')
		for i := 0; i < 2 && p.pos < len(p.src) && p.src[p.pos] >= '0' && p.src[p.pos] <= '7'; i++ {
			v = v*8 + int(p.src[p.pos]-'0')
			p.pos++
		}
		b.WriteRune(rune(v))
		return nil
	}
	// python keeps an unknown escape as written
	b.WriteByte('\\')
	b.WriteByte(c)
	return nil
}

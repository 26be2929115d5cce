package e2e_test

import (
	"regexp"
	"strings"
)

// flowToBlock turns a flow-style mapping "{a: x, b: y}" into the block lines "a: x\n  b: y" that
// continue a spec: block indented by two spaces. It splits at top-level commas only.
func flowToBlock(flow string) string {
	inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(flow), "{"), "}")
	var parts []string
	depth, start := 0, 0
	for i, r := range inner {
		switch r {
		case '{', '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(inner[start:i]))
				start = i + 1
			}
		}
	}
	parts = append(parts, strings.TrimSpace(inner[start:]))
	return strings.Join(parts, "\n  ") + "\n"
}

var protocolField = regexp.MustCompile(`protocol: ([A-Z]+)`)

// portProtocol is the protocol of the spec's port as the audit spells it: unset is TCP.
func portProtocol(spec string) string {
	if m := protocolField.FindStringSubmatch(spec); m != nil {
		return m[1]
	}
	return "TCP"
}

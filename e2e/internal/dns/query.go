package dns

import (
	"fmt"
	"slices"
	"strings"
	"time"

	mdns "github.com/miekg/dns"
)

// Answer is what a DNS server said to one question, reduced to what a resolver uses.
type Answer struct {
	// Rcode is the response code, such as "NOERROR" or "NXDOMAIN".
	Rcode string
	// Names are the owner names of the answer's A and AAAA records, sorted and unique: the name
	// the client sees its addresses under.
	Names []string
	// IPs are the addresses of those records, sorted.
	IPs []string
	// Other lists any other record in the answer section (a CNAME, say), as text.
	Other []string
}

func (a Answer) String() string {
	s := fmt.Sprintf("%s names %v ips %v", a.Rcode, a.Names, a.IPs)
	if len(a.Other) > 0 {
		s += fmt.Sprintf(" other %v", a.Other)
	}
	return s
}

// Query asks server (host:port) one question over network ("udp" or "tcp"): name of type
// qtype (mdns.TypeA, mdns.TypeAAAA). name may omit the final dot.
func Query(server, network, name string, qtype uint16) (Answer, error) {
	m := new(mdns.Msg)
	m.SetQuestion(mdns.Fqdn(name), qtype)
	c := &mdns.Client{Net: network, Timeout: 5 * time.Second}
	r, _, err := c.Exchange(m, server)
	if err != nil {
		return Answer{}, fmt.Errorf("%s %s %s at %s: %w", network, mdns.TypeToString[qtype], name, server, err)
	}
	return read(r), nil
}

func read(r *mdns.Msg) Answer {
	a := Answer{Rcode: mdns.RcodeToString[r.Rcode]}
	for _, rr := range r.Answer {
		switch v := rr.(type) {
		case *mdns.A:
			a.Names = append(a.Names, v.Hdr.Name)
			a.IPs = append(a.IPs, v.A.String())
		case *mdns.AAAA:
			a.Names = append(a.Names, v.Hdr.Name)
			a.IPs = append(a.IPs, v.AAAA.String())
		default:
			a.Other = append(a.Other, strings.ReplaceAll(rr.String(), "\t", " "))
		}
	}
	slices.Sort(a.Names)
	a.Names = slices.Compact(a.Names)
	slices.Sort(a.IPs)
	return a
}

// Expect checks an answer against what a client must get for host: NOERROR, the addresses
// ips (any order) and nothing else, every record under host itself.
func (a Answer) Expect(host string, ips ...string) error {
	want := slices.Clone(ips)
	slices.Sort(want)
	switch {
	case a.Rcode != mdns.RcodeToString[mdns.RcodeSuccess]:
		return fmt.Errorf("%s: %s, want NOERROR with %v", host, a, want)
	case !slices.Equal(a.IPs, want):
		return fmt.Errorf("%s: %s, want addresses %v", host, a, want)
	case len(want) > 0 && !slices.Equal(a.Names, []string{mdns.Fqdn(host)}):
		return fmt.Errorf("%s: %s, want every record under %s, the name the client asked for", host, a, mdns.Fqdn(host))
	case len(a.Other) > 0:
		return fmt.Errorf("%s: %s, want address records only", host, a)
	}
	return nil
}

package desired

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxEntryNameStem keeps entry names within 63 characters, so that they also fit in a label
// value, once the hash suffix is added.
const maxEntryNameStem = 63 - 1 - 8

// EntryName is the deterministic name of the ServiceEntry for a host: the host with dots
// turned into dashes, then a short hash of the host. The hash keeps hosts such as "a-b.c" and
// "a.b-c", which read the same once dots become dashes, from sharing one entry.
func EntryName(host string) string {
	stem := strings.Trim(strings.ReplaceAll(host, ".", "-"), "-")
	if len(stem) > maxEntryNameStem {
		stem = strings.TrimRight(stem[:maxEntryNameStem], "-")
	}
	sum := sha256.Sum256([]byte(host))
	return stem + "-" + hex.EncodeToString(sum[:4])
}

package daemon

import (
	"slices"
	"testing"

	"github.com/faxbridge/faxbridge/config"
)

// A console user's addresses are their report_to and their name when it
// is an address: the received faxes mailed there are theirs to see.
func TestConsoleInboxOf(t *testing.T) {
	a := &consoleApp{users: map[string]config.User{
		"frontdesk":          {Name: "frontdesk", ReportTo: "Front Desk <desk@office.example>"},
		"bob@office.example": {Name: "bob@office.example"},
		"scanner":            {Name: "scanner"},
	}}
	for name, want := range map[string][]string{
		"frontdesk":           {"Front Desk <desk@office.example>"},
		"bob@office.example":  {"bob@office.example"},
		"scanner":             nil,
		"Eve <eve@x.example>": nil,
	} {
		if got := a.InboxOf(name); !slices.Equal(got, want) {
			t.Errorf("InboxOf(%q) = %q, want %q", name, got, want)
		}
	}
}

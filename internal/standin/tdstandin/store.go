package tdstandin

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Parent is a stored composable parent segment (audience).
type Parent struct {
	ID           string      `json:"id"`
	Name         string      `json:"name"`
	Description  string      `json:"description"`
	Timezone     string      `json:"timezone"`
	ConnectionID string      `json:"connectionId"`
	MasterName   string      `json:"masterName"`
	Catalog      string      `json:"masterCatalog"`
	Schema       string      `json:"masterSchema"`
	Table        string      `json:"masterTable"`
	KeyColumn    string      `json:"masterKeyColumn"`
	RootFolderID string      `json:"rootFolderId"`
	Attributes   []Attribute `json:"attributes"`
	Behaviors    []Behavior  `json:"behaviors"`
	Stamp
}

// Attribute is a parent segment attribute in its wire shape.
type Attribute struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	ConnectionID string `json:"connectionId,omitempty"`
	Catalog      string `json:"catalog,omitempty"`
	Schema       string `json:"schema"`
	Table        string `json:"table"`
	TableKey     string `json:"tableKey"`
	MasterKey    string `json:"masterKey"`
	Column       string `json:"column"`
	Type         string `json:"type,omitempty"`
	GroupingName string `json:"groupingName,omitempty"`
}

// Behavior is a parent segment behavior in its wire shape.
type Behavior struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	ConnectionID  string          `json:"connectionId,omitempty"`
	Catalog       string          `json:"catalog,omitempty"`
	Schema        string          `json:"schema"`
	Table         string          `json:"table"`
	TableKey      string          `json:"tableKey"`
	MasterKey     string          `json:"masterKey"`
	TimeColumn    string          `json:"timeColumn,omitempty"`
	ColumnMapping []ColumnMapping `json:"columnMapping"`
}

// ColumnMapping is one behavior column.
type ColumnMapping struct {
	Name      string `json:"name"`
	Type      string `json:"type,omitempty"`
	CDWColumn string `json:"cdwColumn"`
}

// Folder is a stored segment folder. The root folder of a parent segment has
// an empty ParentFolderID.
type Folder struct {
	ID             string `json:"id"`
	AudienceID     string `json:"audienceId"`
	Name           string `json:"name"`
	Description    string `json:"description"`
	ParentFolderID string `json:"parentFolderId"`
	Stamp
}

// Segment is a stored composable segment. Rule is kept exactly as written.
type Segment struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	AudienceID  string          `json:"audienceId"`
	FolderID    string          `json:"folderId"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Rule        json.RawMessage `json:"rule"`
	Stamp
	// empty caches whether Rule has no condition: 0 unknown, 1 empty, 2 not.
	empty int8
}

// Syndication is a stored activation of a segment, its attributes as the
// published SyndicationJsonApiParameters name them.
type Syndication struct {
	ID                 string          `json:"id"`
	SegmentID          string          `json:"segmentId"`
	Name               string          `json:"name"`
	Description        string          `json:"description"`
	AllColumns         bool            `json:"allColumns"`
	Columns            json.RawMessage `json:"columns"`
	ConnectionID       string          `json:"connectionId"`
	ConnectorConfig    json.RawMessage `json:"connectorConfig"`
	RepeatUnit         string          `json:"repeatUnit"`
	RepeatFrequency    int64           `json:"repeatFrequency"`
	RepeatSubFrequency []int64         `json:"repeatSubFrequency"`
	StartAt            string          `json:"startAt"`
	EndOn              string          `json:"endOn"`
	Timezone           string          `json:"timezone"`
	NotifyOn           []string        `json:"notifyOn"`
	EmailRecipients    []string        `json:"emailRecipients"`
	Stamp
}

// Stamp holds the bookkeeping fields every object carries.
type Stamp struct {
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	CreatedBy string    `json:"createdBy"`
	UpdatedBy string    `json:"updatedBy"`
}

// state is everything the stand-in stores; it is what StatePath persists.
type state struct {
	NextID   int64               `json:"nextId"`
	Parents  map[string]*Parent  `json:"parents"`
	Folders  map[string]*Folder  `json:"folders"`
	Segments map[string]*Segment `json:"segments"`
	// Syndications are the activations of segments, by id.
	Syndications map[string]*Syndication `json:"syndications"`
	Users        map[string]string       `json:"users"` // display name → user id
}

func newState() *state {
	return &state{NextID: 1000, Parents: map[string]*Parent{}, Folders: map[string]*Folder{},
		Segments: map[string]*Segment{}, Syndications: map[string]*Syndication{}, Users: map[string]string{}}
}

func (st *state) id() string {
	st.NextID++
	return strconv.FormatInt(st.NextID, 10)
}

func (st *state) userID(name string) string {
	if id, ok := st.Users[name]; ok {
		return id
	}
	id := st.id()
	st.Users[name] = id
	return id
}

func loadState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("decode state %s: %w", path, err)
	}
	if st.Syndications == nil {
		st.Syndications = map[string]*Syndication{}
	}
	return st, nil
}

func saveState(path string, st *state) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tdstandin-*")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// touch stamps o as changed by user at now, keeping updatedAt strictly
// increasing so that clients comparing it always see a change.
func (s *Stamp) touch(now time.Time, user string) {
	if !now.After(s.UpdatedAt) {
		now = s.UpdatedAt.Add(time.Millisecond)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt, s.CreatedBy = now, user
	}
	s.UpdatedAt, s.UpdatedBy = now, user
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeFormat) }

package tdstandin

import (
	"encoding/json"
	"fmt"
	"slices"
)

// ModifySegment changes a segment as user would by hand: fn edits a copy,
// then updatedAt and updatedBy are stamped. The rule is not validated.
func (s *Server) ModifySegment(id, user string, fn func(*Segment)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.st.Segments[id]
	if !ok {
		return fmt.Errorf("tdstandin: no segment %s", id)
	}
	next := *sg
	fn(&next)
	next.ID = sg.ID
	next.touch(s.opts.Now(), user)
	*sg = next
	s.putSegment(sg)
	return s.commit()
}

// ModifyFolder changes a folder as user would by hand.
func (s *Server) ModifyFolder(id, user string, fn func(*Folder)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.st.Folders[id]
	if !ok {
		return fmt.Errorf("tdstandin: no folder %s", id)
	}
	next := *f
	fn(&next)
	next.ID = f.ID
	next.touch(s.opts.Now(), user)
	*f = next
	s.putFolder(f)
	return s.commit()
}

// ModifyParent changes a parent segment as user would by hand.
func (s *Server) ModifyParent(id, user string, fn func(*Parent)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.st.Parents[id]
	if !ok {
		return fmt.Errorf("tdstandin: no parent segment %s", id)
	}
	next := *p
	next.Attributes = slices.Clone(p.Attributes)
	next.Behaviors = slices.Clone(p.Behaviors)
	fn(&next)
	next.ID = p.ID
	next.touch(s.opts.Now(), user)
	*p = next
	return s.commit()
}

// Parents returns copies of every stored parent segment, ordered by id.
func (s *Server) Parents() []Parent {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Parent
	for _, p := range s.st.Parents {
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Parent) int { return cmpNumeric(a.ID, b.ID) })
	return out
}

// Folders returns copies of every stored folder (root folders included),
// ordered by id.
func (s *Server) Folders() []Folder {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Folder
	for _, f := range s.st.Folders {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b Folder) int { return cmpNumeric(a.ID, b.ID) })
	return out
}

// Segments returns copies of every stored segment, ordered by id.
func (s *Server) Segments() []Segment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Segment
	for _, sg := range s.st.Segments {
		out = append(out, *sg)
	}
	slices.SortFunc(out, func(a, b Segment) int { return cmpNumeric(a.ID, b.ID) })
	return out
}

// Segment returns a copy of the stored segment with id.
func (s *Server) Segment(id string) (Segment, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sg, ok := s.st.Segments[id]
	if !ok {
		return Segment{}, false
	}
	return *sg, true
}

// SegmentCount returns the number of stored segments.
func (s *Server) SegmentCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.st.Segments)
}

// AddFolder stores a folder directly (as user, without a request), for
// seeding large trees quickly. It applies the API's uniqueness rule.
func (s *Server) AddFolder(parentFolderID, name, description, user string) (Folder, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parent, ok := s.st.Folders[parentFolderID]
	if !ok {
		return Folder{}, fmt.Errorf("tdstandin: no folder %s", parentFolderID)
	}
	if s.nameTaken(parentFolderID, name, "") {
		return Folder{}, fmt.Errorf("tdstandin: name %q has already been taken", name)
	}
	f := &Folder{ID: s.st.id(), AudienceID: parent.AudienceID, Name: name, Description: description, ParentFolderID: parentFolderID}
	f.touch(s.opts.Now(), user)
	s.putFolder(f)
	return *f, s.commit()
}

// AddSegment stores a segment directly (as user, without a request), for
// seeding. The rule is checked like a request's.
func (s *Server) AddSegment(folderID, name, description string, rule json.RawMessage, user string) (Segment, error) {
	refs, err := checkRule(rule)
	if err != nil {
		return Segment{}, fmt.Errorf("tdstandin: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.st.Folders[folderID]
	if !ok {
		return Segment{}, fmt.Errorf("tdstandin: no folder %s", folderID)
	}
	for _, r := range refs {
		if t, ok := s.st.Segments[r]; !ok || t.AudienceID != f.AudienceID {
			return Segment{}, fmt.Errorf("tdstandin: referenced segment %s is invalid", r)
		}
	}
	if s.nameTaken(folderID, name, "") {
		return Segment{}, fmt.Errorf("tdstandin: name %q has already been taken", name)
	}
	sg := &Segment{ID: s.st.id(), Type: s.opts.SegmentTypes[0], AudienceID: f.AudienceID, FolderID: folderID,
		Name: name, Description: description, Rule: compact(rule)}
	sg.touch(s.opts.Now(), user)
	s.putSegment(sg)
	return *sg, s.commit()
}

package tdstandin

// nameIndex records which names the folders and segments of each folder
// use, so that the per-folder uniqueness check on every create, rename and
// move costs a map lookup instead of a scan of the whole store. Folder and
// segment ids come from one counter, so one map of ids serves both.
type nameIndex struct {
	at    map[string]nameKey // object id → the folder and name it holds
	count map[nameKey]int    // objects holding a name in a folder
}

// nameKey is a name within a folder (the parent folder of a folder, the
// folder of a segment; "" for root folders).
type nameKey struct{ folder, name string }

// newNameIndex indexes every folder and segment of st.
func newNameIndex(st *state) *nameIndex {
	x := &nameIndex{at: make(map[string]nameKey, len(st.Folders)+len(st.Segments)), count: map[nameKey]int{}}
	for _, f := range st.Folders {
		x.put(f.ID, f.ParentFolderID, f.Name)
	}
	for _, sg := range st.Segments {
		x.put(sg.ID, sg.FolderID, sg.Name)
	}
	return x
}

// put records that object id holds name in folder, replacing what it held.
func (x *nameIndex) put(id, folder, name string) {
	k := nameKey{folder, name}
	if old, ok := x.at[id]; ok {
		if old == k {
			return
		}
		x.drop(old)
	}
	x.at[id] = k
	x.count[k]++
}

// remove forgets object id.
func (x *nameIndex) remove(id string) {
	if old, ok := x.at[id]; ok {
		delete(x.at, id)
		x.drop(old)
	}
}

func (x *nameIndex) drop(k nameKey) {
	if x.count[k] <= 1 {
		delete(x.count, k)
	} else {
		x.count[k]--
	}
}

// taken reports whether an object other than except holds name in folder.
func (x *nameIndex) taken(folder, name, except string) bool {
	k := nameKey{folder, name}
	n := x.count[k]
	if except != "" && x.at[except] == k {
		n--
	}
	return n > 0
}

func (s *Server) nameTaken(folderID, name, except string) bool {
	return s.names.taken(folderID, name, except)
}

// putFolder stores f (new or changed) and indexes its name.
func (s *Server) putFolder(f *Folder) {
	s.st.Folders[f.ID] = f
	s.names.put(f.ID, f.ParentFolderID, f.Name)
}

// putSegment stores sg (new or changed) and indexes its name.
func (s *Server) putSegment(sg *Segment) {
	sg.empty = 0
	s.st.Segments[sg.ID] = sg
	s.names.put(sg.ID, sg.FolderID, sg.Name)
}

func (s *Server) deleteFolderRecord(id string) {
	delete(s.st.Folders, id)
	s.names.remove(id)
}

func (s *Server) deleteSegmentRecord(id string) {
	delete(s.st.Segments, id)
	s.names.remove(id)
	// A segment's activations go with it.
	for sid, sy := range s.st.Syndications {
		if sy.SegmentID == id {
			delete(s.st.Syndications, sid)
		}
	}
}

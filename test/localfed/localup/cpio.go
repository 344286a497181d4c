package localup

import (
	"fmt"
	"io"
	"path"
	"sort"
)

// cpioFile is one regular file of an initramfs archive.
type cpioFile struct {
	Name string // path without a leading slash, e.g. vm/args
	Mode uint32 // permission bits
	Data []byte
}

// writeCPIO writes files as an uncompressed "newc" cpio archive, the format the
// kernel unpacks into the initramfs, with the directories they need.
func writeCPIO(w io.Writer, files []cpioFile) error {
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	ino := uint32(1)
	dirs := map[string]bool{".": true, "": true}
	var mkdirs func(dir string) error
	mkdirs = func(dir string) error {
		if dirs[dir] {
			return nil
		}
		if err := mkdirs(path.Dir(dir)); err != nil {
			return err
		}
		dirs[dir] = true
		ino++
		return cpioEntry(w, ino, dir, 0o40755, nil)
	}
	for _, f := range files {
		if err := mkdirs(path.Dir(f.Name)); err != nil {
			return err
		}
		ino++
		if err := cpioEntry(w, ino, f.Name, 0o100000|f.Mode, f.Data); err != nil {
			return err
		}
	}
	return cpioEntry(w, 0, "TRAILER!!!", 0, nil)
}

func cpioEntry(w io.Writer, ino uint32, name string, mode uint32, data []byte) error {
	nlink := 1
	if mode&0o40000 != 0 {
		nlink = 2
	}
	// magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor,
	// rdevmajor, rdevminor, namesize, check
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	buf := append([]byte(hdr), name...)
	buf = append(buf, 0)
	buf = pad4(buf)
	if _, err := w.Write(buf); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	_, err := w.Write(make([]byte, (4-len(data)%4)%4))
	return err
}

func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

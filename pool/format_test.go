package pool

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// TestMigrateV1 writes a file in format 1 (contents inline in the queue
// records) and checks that Open converts it and everything is still there.
func TestMigrateV1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pool.db")
	o := testOptions(t)
	seal := func(b []byte) []byte {
		v, err := o.Sealer.Seal(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bIncoming, bPool, bOutgoing, bReplay, bChunks, bMeta} {
			if _, err := tx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bMeta)
		meta.Put(mFormat, []byte{1})
		meta.Put(mKeyCheck, seal([]byte(keyCheck)))
		tx.Bucket(bIncoming).Put([]byte("iiiiiiiiiiiiiiii"), append([]byte{recordV1}, seal([]byte("raw mail"))...))
		p := poolRec{entered: t0}.encode()[:poolHdrV1]
		tx.Bucket(bPool).Put([]byte("pppppppppppppppp"), append(p, seal(encodePayload(Item{Kind: KindMail, Data: []byte("pooled")}))...))
		q := outRec{queued: t0, next: t0}.encode()[:outgoingHdrV1]
		return tx.Bucket(bOutgoing).Put([]byte("oooooooooooooooo"), append(q, seal(encodePayload(Item{Kind: KindPacket, Dest: "d", Data: []byte("queued")}))...))
	})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	s := openT(t, path, o)
	defer s.Close()
	inc, pooled, out := contents(t, s)
	if inc["raw mail"] != 1 || pooled["pooled"] != 1 || out["queued"] != 1 {
		t.Fatalf("after conversion: incoming %v pool %v outgoing %v", inc, pooled, out)
	}
	due, err := s.Due(t0, 0)
	if err != nil || len(due) != 1 || string(due[0].Data) != "queued" || due[0].Dest != "d" {
		t.Fatalf("Due = %+v %v", due, err)
	}
	s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bMeta).Get(mFormat); len(v) != 1 || v[0] != formatVersion {
			t.Errorf("format %x after conversion", v)
		}
		return nil
	})
}

// TestMissingContents: an index record without contents is a corrupt
// record of its queue, which DropCorrupt removes.
func TestMissingContents(t *testing.T) {
	s, _ := newStore(t, nil)
	in := mustAdd(t, s, "raw")
	s.db.Update(func(tx *bolt.Tx) error { // inline, but nothing in data
		return tx.Bucket(bIncoming).Put(in[:], incomingRec(loc{inlineSlot, 10}))
	})
	_, err := s.LoadIncoming(in)
	var ce *CorruptError
	if !errors.As(err, &ce) || ce.Bucket != string(bIncoming) {
		t.Fatalf("LoadIncoming without contents: %v", err)
	}
	if err := s.DropCorrupt(ce); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.Incoming(); len(ids) != 0 {
		t.Fatalf("%d incoming entries after DropCorrupt", len(ids))
	}
}

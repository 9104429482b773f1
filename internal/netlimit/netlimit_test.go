package netlimit

import (
	"bufio"
	"net"
	"testing"
	"time"
)

func TestLimit(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(inner, 2, "421 busy\r\n")
	defer l.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var server []net.Conn
	for range 2 {
		dial()
		server = append(server, <-accepted)
	}
	// The third is answered busy and closed.
	c := dial()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || line != "421 busy\r\n" {
		t.Fatalf("third connection got %q, %v", line, err)
	}
	if n := l.Active(); n != 2 {
		t.Fatalf("%d active, want 2", n)
	}
	// Closing one (twice: counted once) makes room for one more.
	server[0].Close()
	server[0].Close()
	if n := l.Active(); n != 1 {
		t.Fatalf("%d active after a close, want 1", n)
	}
	dial()
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("a connection within the limit was not accepted")
	}
}

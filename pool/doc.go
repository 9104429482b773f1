// Package pool owns the remailer's durable message state: the incoming
// queue, the reordering pool (§12), the outgoing queue with retries, the
// store of partial chunks (§8.5) and the replay log (§13). Section numbers
// (§) refer to docs/spec/mixmaster-type2.md.
//
// # Life of a message
//
// A received packet is decrypted and its result handed to [Store.Accept]
// (or [Store.AcceptChunk] for one chunk of a multi-part message), which in
// ONE transaction logs the packet ID in the replay log and puts the result
// into the pool; the daemon answers SMTP 250 after that commit, and `mixd
// process` exits 0. A mail that must wait (a request to a service address,
// a mail the daemon received but has not processed) is stored first with
// [Store.AddIncoming]; its worker loads it ([Store.LoadIncoming]) and
// Accept then also deletes the incoming entry in the same transaction, or
// [Store.DropIncoming] drops it when it is malformed. Every SENDPOOLTIME
// [Store.RunPool] lets the [Strategy] pick pooled entries and moves them
// to the outgoing queue. The sender takes what is due ([Store.Due]) and
// reports [Store.Ack] (or [Store.AckMany]) once the next hop accepted it,
// or [Store.Fail]; temporary failures are retried with exponential backoff
// until Options.GiveUp, then dropped and counted (no bounces). `mixd flush
// --all` instead takes the pool itself, a shuffled batch at a time
// ([Store.TakePool]), and reports the same way.
//
// # Durability
//
// The state is a bbolt file (PATH) and a spool file beside it
// (PATH.spool). bbolt holds the queues' indexes, the replay log, the chunk
// store and the counters; the sealed contents of queue entries (the 20–30
// KB packets and mails) sit in fixed-size spool slots that the index
// records point to, or inline in bbolt when too large for a slot (see
// spool.go and docs/PERFORMANCE.md for why). bbolt writes a transaction
// with copy-on-write pages and fsyncs on commit (NoSync stays false); the
// spool slots a transaction refers to are written while free and fsynced
// before that commit. So a call that changes state is durable when it
// returns, and a crash at any point leaves either the whole transaction or
// none of it: an accepted message is never lost and never in two places.
// The calls that run concurrently (AddIncoming, Accept, AcceptChunk,
// AddPool, DropIncoming, Ack, Fail) share commits (group commit,
// commit.go): a commit starts as soon as there is work, and the calls that
// arrive meanwhile share the next one, so under load many calls share one
// set of fsyncs without any lone caller waiting for company
// (Options.BatchDelay can add such a wait). Functions run in a shared
// commit may run more than once, so all their inputs (IDs, sealed records,
// spool slots) are prepared before the transaction and result variables
// are reset at every run. Open releases the leases (below) a previous
// process left, since only one process can hold the file.
//
// Hand-outs from [Store.Due] are leased (Options.Lease): an entry handed
// to a sender is not handed out again until the lease runs out, so a
// sender that crashed mid-delivery causes a retry, never a loss. Delivery
// is therefore at-least-once; the next hop's replay log drops a duplicate.
//
// # Anonymity of the stored state
//
// Nothing stored links an incoming message to an outgoing one. Keys are
// random 16-byte IDs from Options.Rand (crypto/rand by default), fresh for
// each stage: an incoming entry, the pool entry made from it and the
// outgoing entry made from that have unrelated keys, and each stage's
// record is sealed anew, so even the ciphertexts do not match. Moves to
// the outgoing queue, and TakePool's batches, go in random order, never in
// key order. A pool
// entry keeps its entry time only rounded down to Options.Granularity
// (default one hour), which is all that mixing and statistics need; the
// outgoing queue keeps when it was queued, the attempts and the next
// attempt, which concern the visible sending side only. The replay log and
// the chunk store keep their times rounded up to Granularity, so expiry
// is never early.
//
// All message contents (incoming mails with their headers, pool and
// outgoing entries with their destination, chunks) are sealed with
// Options.Sealer; [NewAESGCMSealer] provides AES-256-GCM. Spool slots are
// taken at random among the free ones, so a slot number does not tell when
// its contents arrived, and the one spool file has no per-message times.
// Intermediate packets are ciphertext already but are sealed too: sealing
// and opening 20 KB takes 25–80 µs (BenchmarkSeal on the 2-core
// development VM), against milliseconds for the commit's fsync, and it
// makes the rule uniform and also hides the next-hop address. Sealing
// also matters because neither bbolt nor the spool wipes freed space:
// deleted records remain in the files until the space is reused, and they
// are ciphertext. The
// sealing key must be kept outside the database file; a sealed check
// value lets Open refuse a wrong key (ErrWrongKey) instead of reporting
// every record as corrupt.
//
// # Corrupt records
//
// No call panics on a damaged record: it returns an error wrapping a
// [CorruptError] (matching [ErrCorrupt]) that names the record, and
// [Store.DropCorrupt] removes it.
package pool

// Package datadir keeps one process at a time in a data directory.
//
// Everything amplifybackendd keeps lives under one directory: the bbolt
// store, the credentials, the embedded gateway's buckets and IAM data. Two
// processes on it would fight over all of them, and the first symptom used
// to be bbolt's open timeout several seconds later, naming nobody. Acquire
// takes an exclusive flock(2) on the file Name in the directory and holds it
// for the life of the process; a second Acquire fails at once with an
// *InUseError that names the holder's process id, from the file's contents.
//
// The kernel drops the lock when its holder exits, however it exits, so a
// file left behind by a killed process is no obstacle: the next Acquire
// takes the lock and rewrites the contents. The file is never removed;
// removing it would let a third process lock a fresh file while a second
// still holds the old one.
//
// Any command that opens the store or writes into a data directory (the
// server, and offline tools such as a backup or a restore) takes this lock
// first, so none of them runs beside a server.
package datadir

// Package retention decides which snapshots a retention policy keeps.
//
// The rules follow restic's `forget` command. Snapshots are ordered newest
// first (equal times by ID, highest first), then:
//
//   - keep-last N keeps the N newest snapshots.
//   - keep-hourly, keep-daily, keep-weekly, keep-monthly and keep-yearly N
//     walk the snapshots from newest to oldest and keep the first (newest)
//     snapshot of every calendar hour, date, ISO week, month or year seen,
//     until N such buckets have been kept. Buckets are wall-clock calendar
//     periods in the given time zone, so a DST day of 23 or 25 hours is still
//     one day, and ISO weeks may span a year boundary (2020-12-31 and
//     2021-01-01 are both in week 53 of 2020).
//   - A count of -1 means unlimited: keep one snapshot per bucket, for every
//     bucket. 0 means the rule is unused; other negative counts are invalid
//     and ignored.
//   - keep-within D keeps every snapshot taken after now-D (including
//     snapshots with future timestamps).
//   - keep-tag T keeps every snapshot carrying tag T.
//
// A snapshot kept by any rule is kept, and its Decision lists every rule that
// kept it. A policy with no rule set keeps everything: an empty policy never
// deletes.
//
// Apply is pure: it reads no clock and does no I/O; the caller passes the
// current time and the time zone used for calendar buckets.
package retention

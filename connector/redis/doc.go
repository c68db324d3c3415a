// Package redis is the Lethe connector for Redis: it finds and deletes
// the keys that hold a data subject's data. It implements lethe.Connector
// over github.com/redis/go-redis/v9 (a single server, Sentinel, or a
// cluster scanned master by master).
//
// # Collections are key patterns
//
// A redis collection is a key pattern with identity templates, declared
// as the collection's key (or in the datastore's keys shorthand):
//
//	session:{user_id}        one key per user
//	cart:{email}:items       the value sits in the middle of the key
//	session:{user_id}:*      any number of keys per user
//	order:{user_id}:{order}  several variables
//
// Braces name a variable; `*` matches any run of bytes; every other byte
// is literal. The collection's identities map each variable to itself
// ({user_id: user_id}), and a lethe.Match names a variable as its Column.
//
// A value is put into the key as it is: keys are literal, so nothing is
// escaped when the pattern has no wildcard and no other variable, and
// the key is read directly. Otherwise the keys are found with SCAN
// (COUNT 1000) whose MATCH holds the value with the glob metacharacters
// *, ?, [, ] and \ escaped: an identity such as "*" or "a?b" selects only
// the keys that hold it literally, never other subjects' keys (and each
// key SCAN returns is matched against the pattern again in Go). Each
// value of such a match is one SCAN of the keyspace, so such patterns
// cost time in proportion to the database's size; a pattern that a
// value fills alone costs one lookup per key.
//
// A match may also name:
//
//   - key, with whole keys as values; keys that do not fit the pattern
//     are ignored.
//   - any other column, which is a hash field: the collection's keys
//     (every variable a wildcard) are scanned once per such column and
//     the hashes whose field holds one of the values are selected, for
//     keys such as session:{sid} that hold the user inside
//     (identities: {user_id: user_id} with user_id a field). This reads
//     every key of the pattern; a typo in the column name selects
//     nothing rather than fail.
//
// Match values are converted to text: strings and bytes as they are,
// integers and floats in their shortest decimal form (42.0 gives "42"),
// booleans as true and false; nulls match nothing. Values compare
// exactly, byte for byte.
//
// # Rows
//
// Find returns one row per key, and every row of a collection has the
// same columns, as an export's table needs:
//
//	key         the key
//	type        string, hash, list, set, zset or stream
//	<variable>  each variable of the pattern, as found in the key
//	expires_at  when the key expires (UTC), or null if it does not
//	<field>     each of the collection's fields (the data map's fields:)
//	            that is none of the above: a hash's field, null for a key
//	            that is not a hash or lacks it
//	value       what the columns above do not hold
//
// The value of a string is the string (bytes that are not UTF-8 are kept
// as bytes). A hash's value is its fields without a column of their own,
// as a JSON object sorted by field, or null when there are none. The
// other types are rendered as JSON text:
//
//	set     an array of its members, sorted
//	list    an array of its elements, in order
//	zset    an array of {"member":..., "score":...} in score order
//	        (infinite scores are "inf" and "-inf")
//	stream  an array of {"id":"1700000000000-0","fields":{...}} in ID order
//
// Bytes that are not UTF-8 inside JSON are replaced by U+FFFD. Keys of
// other types (module types such as RedisJSON) are returned with their
// type and a null value.
//
// When FindParams.Columns names the columns, each row has exactly those:
// a name that is none of the fixed columns or variables is a hash field
// (read with HMGET), and value is then every field of a hash as a JSON
// object.
//
// Keys are read in pipelined batches of up to lethe.MaxBatch: PTTL and
// GETRANGE in one round trip, which reads the strings; TYPE of the other
// keys in a second; the first chunk of the batch's hashes, sets, lists,
// sorted sets and streams in a third (HSCAN, SSCAN, LRANGE, ZRANGE,
// XRANGE, 1000 elements; HMGET when only some hash fields are named); a
// larger collection is read in further chunks of 1000. Memory is bounded by one batch and one value:
// a value larger than MaxValueBytes fails Find with ETOOLARGE rather
// than be cut short.
//
// # Erasure
//
// Erase deletes the matching keys with UNLINK, one command per batch of
// up to lethe.MaxBatch keys, which Redis applies atomically. Redis has no
// transaction spanning batches or steps: if Erase fails half-way, the
// keys of earlier batches are gone and the others are not; running it
// again finishes the work, and counts only the keys it removed (Erase is
// idempotent). On a cluster, keys are unlinked one by one in a pipeline.
//
// A key is deleted whole: the anonymise action and a hold's cutoff
// (lethe.EraseStep.Before) are refused with EINVALID before anything is
// deleted; declare erase: delete for redis collections.
//
// Describe reports each collection as existing with no columns: a key
// pattern has no schema.
//
// Errors never hold the URL, a key or a value: server errors are reduced
// to their code (WRONGTYPE, NOAUTH...) since Redis quotes commands'
// arguments in some replies.
package redis

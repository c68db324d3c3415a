// Package config reads lethe.yaml, Lethe's privacy-as-code declaration, into
// a *lethe.Config.
//
// Loading is strict, so that a typo in a privacy declaration fails loudly
// instead of silently meaning something else:
//
//   - ${VAR} and ${VAR:-default} in scalar values are expanded from the
//     environment on the YAML node tree, so line numbers stay those of the
//     file;
//   - the tree is validated against the embedded JSON Schema (Schema), which
//     is also what editors use, so the editor and Lethe agree on unknown
//     keys, types, enums and patterns;
//   - what remains is decoded with KnownFields(true) and checked for rules
//     that span fields (consent purposes need a policy_version, a recipient
//     outside the EEA needs a transfer safeguard, ...);
//   - the data map (datastores:) is completed and checked: names are
//     filled in, redis key patterns become collections, every table and
//     column must be a plain identifier (nothing in the file can inject
//     SQL), every reference must resolve, every collection with personal
//     fields must be reached from an identity, and a cycle of references
//     needs an after: entry that orders it. Connection strings, URLs and
//     secrets are never quoted in a message.
//
// Every problem is collected, not just the first, and returned as one
// *lethe.Error with code lethe.EINVALID whose Fields name the path and the
// line of each problem:
//
//	purposes[2].lawful_basis: line 14: "consnet" is not one of consent, contract, ...
//
// Adding a key to lethe.Config means adding the struct field and its
// property (with a description) to lethe.schema.json; a test walks the
// struct tags and fails until both agree.
package config

package dsr

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/lethe-privacy/lethe"
)

// AccessParams is an access (Art. 15) or portability (Art. 20) request.
type AccessParams struct {
	// RequestID names the request in the package and the audit log.
	RequestID string
	// Identities are what the subject is known by.
	Identities []lethe.Identity
	// Portability limits the package to the data the subject provided
	// under consent or contract (Art. 20(1)): fields whose category a
	// consent or contract purpose lists, as JSON and CSV.
	Portability bool
}

// AccessResult summarises an export.
type AccessResult struct {
	RequestID   string            `json:"request_id"`
	Collections []CollectionCount `json:"collections"`
	// Failed lists datastores that could not be read: the package is
	// incomplete for them, and says so.
	Failed []Failure `json:"failed,omitempty"`
	Rows   int64     `json:"rows"`
}

// CollectionCount is how many rows of a collection an export holds.
type CollectionCount struct {
	Datastore  string `json:"datastore"`
	Collection string `json:"collection"`
	Rows       int64  `json:"rows"`
}

// maxPreviewRows bounds the rows per collection report.html shows; the
// CSV files and data.json hold all of them.
const maxPreviewRows = 50

// Access finds the subject's rows in every datastore and writes the
// export package (a ZIP) to w: data.json (datastore -> collection ->
// rows, each field labelled with its data category), one CSV per
// collection, report.html for a person to read, information.json with
// the Art. 15(1)(a)-(h) information built from the config, and the
// consent history. Rows stream from the connectors through temporary
// files into the ZIP: memory stays bounded whatever the subject's size.
//
// A datastore that cannot be read does not fail the request: it is
// listed in AccessResult.Failed and in the package. Access returns
// EINVALID for missing or malformed identities.
func (e *Engine) Access(ctx context.Context, p AccessParams, w io.Writer) (AccessResult, error) {
	res := AccessResult{RequestID: p.RequestID}
	if err := checkIdentities(p.Identities); err != nil {
		return res, err
	}
	start := e.clock.Now()
	keys, err := e.resolve(ctx, p.RequestID, p.Identities)
	if err != nil {
		return res, err
	}
	dir, err := os.MkdirTemp(e.opts.TempDir, "lethe-export-*")
	if err != nil {
		return res, fmt.Errorf("create export directory: %w", err)
	}
	defer os.RemoveAll(dir)

	portable := map[string]bool{}
	if p.Portability {
		portable = e.portableCategories()
	}
	parts, failed := e.exportParts(ctx, p, keys, dir, portable)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	res.Failed = failed
	for _, part := range parts {
		res.Collections = append(res.Collections, CollectionCount{Datastore: part.n.c.Datastore, Collection: part.n.c.Name, Rows: part.rows})
		res.Rows += part.rows
	}
	p.Identities = withFound(p.Identities, keys.found) // the consent history of the account found
	if err := e.writePackage(ctx, w, p, parts, failed, start); err != nil {
		return res, err
	}
	if e.opts.Audit != nil {
		action := "request.access_exported"
		if p.Portability {
			action = "request.portability_exported"
		}
		_, err := e.opts.Audit.Append(ctx, lethe.AuditRecord{
			Actor: e.opts.Actor, Action: action, SubjectRef: e.subjectRef(p.Identities), Object: p.RequestID,
			Details: map[string]string{"rows": fmt.Sprint(res.Rows), "collections": fmt.Sprint(len(parts)), "failed_datastores": fmt.Sprint(len(failed))},
		})
		if err != nil {
			return res, fmt.Errorf("audit export: %w", err)
		}
	}
	return res, nil
}

// portableCategories lists the data categories processed under consent or
// contract: what Art. 20 covers.
func (e *Engine) portableCategories() map[string]bool {
	out := map[string]bool{}
	for _, pur := range e.cfg.Purposes {
		if pur.LawfulBasis == lethe.BasisConsent || pur.LawfulBasis == lethe.BasisContract {
			for _, c := range pur.Categories {
				out[c] = true
			}
		}
	}
	return out
}

// exportPart is one collection's rows, written to temporary files.
type exportPart struct {
	n       *node
	columns []string
	rows    int64
	json    *spill // the JSON array elements, comma-separated
	csv     *spill
	preview [][]string
}

// exportParts reads every collection with matches, per datastore
// concurrently, into its part files.
func (e *Engine) exportParts(ctx context.Context, p AccessParams, keys *resolution, dir string, portable map[string]bool) ([]*exportPart, []Failure) {
	byStore := map[string][]*node{}
	for _, n := range e.model.nodes {
		if len(keys.matchesOf(n)) > 0 {
			byStore[n.c.Datastore] = append(byStore[n.c.Datastore], n)
		}
	}
	var (
		mu     sync.Mutex
		parts  []*exportPart
		failed []Failure
		wg     sync.WaitGroup
	)
	for ds, err := range keys.failed {
		failed = append(failed, failure(ds, err))
		delete(byStore, ds)
	}
	for ds, nodes := range byStore {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := e.connectors.Connector(ctx, ds)
			if err == nil {
				err = eachConcurrently(nodes, func(n *node) error {
					part, err := e.exportCollection(ctx, conn, p, keys.matchesOf(n), n, dir, portable)
					if err == nil && part != nil {
						mu.Lock()
						parts = append(parts, part)
						mu.Unlock()
					}
					return err
				})
			}
			if err != nil {
				mu.Lock()
				failed = append(failed, failure(ds, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 { // a failed datastore's parts are not exported
		bad := map[string]bool{}
		for _, f := range failed {
			bad[f.Datastore] = true
		}
		parts = slices.DeleteFunc(parts, func(p *exportPart) bool {
			if bad[p.n.c.Datastore] {
				p.json.release()
				p.csv.release()
				return true
			}
			return false
		})
	}
	slices.SortFunc(parts, func(a, b *exportPart) int { return cmpString(a.n.path, b.n.path) })
	slices.SortFunc(failed, func(a, b Failure) int { return cmpString(a.Datastore, b.Datastore) })
	return parts, failed
}

func (e *Engine) exportCollection(ctx context.Context, conn lethe.Connector, p AccessParams, matches []lethe.Match, n *node, dir string, portable map[string]bool) (*exportPart, error) {
	var columns []string
	if p.Portability {
		for _, f := range n.c.FieldNames() {
			if portable[n.c.Fields[f].Category] {
				columns = append(columns, f)
			}
		}
		if len(columns) == 0 {
			return nil, nil
		}
	}
	part := &exportPart{n: n, json: &spill{dir: dir}, csv: &spill{dir: dir}}
	jw := bufio.NewWriterSize(part.json, 32<<10)
	cw := csv.NewWriter(bufio.NewWriterSize(part.csv, 32<<10))
	var obj []byte
	rec := []string{}
	err := conn.Find(ctx, lethe.FindParams{Collection: n.c, Matches: matches, Columns: columns, RequestID: p.RequestID}, func(row lethe.Row) error {
		if part.columns == nil {
			part.columns = slices.Clone(row.Columns)
			if err := cw.Write(part.columns); err != nil {
				return err
			}
		}
		if part.rows > 0 {
			if err := jw.WriteByte(','); err != nil {
				return err
			}
		}
		obj = obj[:0]
		obj = append(obj, '{')
		rec = rec[:0]
		for i, c := range row.Columns {
			if i > 0 {
				obj = append(obj, ',')
			}
			k, _ := json.Marshal(c)
			obj = append(obj, k...)
			obj = append(obj, ':')
			v, err := json.Marshal(exportValue(row.Values[i]))
			if err != nil {
				return fmt.Errorf("encode %s.%s: %w", n.path, c, err)
			}
			obj = append(obj, v...)
			rec = append(rec, csvValue(row.Values[i]))
		}
		obj = append(obj, '}')
		if _, err := jw.Write(obj); err != nil {
			return err
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
		if len(part.preview) < maxPreviewRows {
			part.preview = append(part.preview, slices.Clone(rec))
		}
		part.rows++
		return nil
	})
	if err != nil {
		part.json.release()
		part.csv.release()
		return nil, err
	}
	if err := jw.Flush(); err != nil {
		return nil, fmt.Errorf("write export part: %w", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return nil, fmt.Errorf("write export part: %w", err)
	}
	if part.rows == 0 {
		part.json.release()
		part.csv.release()
		return nil, nil
	}
	return part, nil
}

// exportValue is how a value reads in data.json: text stays text, bytes
// that are UTF-8 are text too, times are RFC 3339.
func exportValue(v any) any {
	switch x := v.(type) {
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return x // base64, as encoding/json writes bytes
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return strconv.FormatFloat(x, 'g', -1, 64) // JSON has no NaN or Infinity
		}
	}
	return v
}

func csvValue(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		b, _ := json.Marshal(x)
		return string(b[1 : len(b)-1])
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}

// writePackage assembles the ZIP from the parts and the config.
func (e *Engine) writePackage(ctx context.Context, w io.Writer, p AccessParams, parts []*exportPart, failed []Failure, start time.Time) error {
	zw := zip.NewWriter(w)
	zw.RegisterCompressor(zip.Deflate, fastDeflate)
	now := e.clock.Now().UTC()
	// Entries known to be small are stored: compressing a few hundred
	// bytes costs more time than it saves space.
	header := func(name string, size int) (io.Writer, error) {
		method := zip.Deflate
		if size < storeBelow {
			method = zip.Store
		}
		return zw.CreateHeader(&zip.FileHeader{Name: name, Method: method, Modified: now})
	}
	indented := func(v any) []byte {
		b, _ := json.MarshalIndent(v, "", "  ")
		return append(b, '\n')
	}

	// data.json: written by hand around the part files so that rows are
	// copied, never decoded again.
	total := 0
	for _, part := range parts {
		total += part.json.size()
	}
	dw, err := header("data.json", total+1024)
	if err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	kind := "access"
	if p.Portability {
		kind = "portability"
	}
	head, _ := json.Marshal(map[string]any{"request_id": p.RequestID, "type": kind, "generated_at": now.Format(time.RFC3339)})
	if _, err := fmt.Fprintf(dw, "{%s,\"datastores\":{", head[1:len(head)-1]); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	prevDS := ""
	for i, part := range parts {
		ds := part.n.c.Datastore
		if ds != prevDS {
			if prevDS != "" {
				io.WriteString(dw, "},")
			}
			k, _ := json.Marshal(ds)
			fmt.Fprintf(dw, "%s:{", k)
			prevDS = ds
		} else if i > 0 {
			io.WriteString(dw, ",")
		}
		k, _ := json.Marshal(part.n.c.Name)
		fields := map[string]string{}
		for _, c := range part.columns {
			if f := part.n.c.Fields[c]; f != nil {
				fields[c] = f.Category
			}
		}
		fj, _ := json.Marshal(fields)
		fmt.Fprintf(dw, "%s:{\"categories\":%s,\"rows\":[", k, fj)
		if err := part.json.copyTo(dw); err != nil {
			return err
		}
		io.WriteString(dw, "]}")
	}
	if prevDS != "" {
		io.WriteString(dw, "}")
	}
	fj, _ := json.Marshal(failed)
	if failed == nil {
		fj = []byte("[]")
	}
	if _, err := fmt.Fprintf(dw, "},\"incomplete\":%s}\n", fj); err != nil {
		return fmt.Errorf("write export: %w", err)
	}

	for _, part := range parts {
		cw, err := header("csv/"+part.n.path+".csv", part.csv.size())
		if err != nil {
			return fmt.Errorf("write export: %w", err)
		}
		if err := part.csv.copyTo(cw); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	info := e.information(parts, p.Portability)
	ib := indented(info)
	iw, err := header("information.json", len(ib))
	if err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if _, err := iw.Write(ib); err != nil {
		return fmt.Errorf("write export: %w", err)
	}

	var consent any
	if e.opts.Consent != nil && !p.Portability {
		consent, err = e.opts.Consent(ctx, p.Identities)
		if err != nil {
			return fmt.Errorf("read consent history: %w", err)
		}
		cb := indented(consent)
		cw, err := header("consent.json", len(cb))
		if err != nil {
			return fmt.Errorf("write export: %w", err)
		}
		if _, err := cw.Write(cb); err != nil {
			return fmt.Errorf("write export: %w", err)
		}
	}

	var report bytes.Buffer // previews are bounded, so the report is small
	if err := e.writeReport(&report, reportData{
		RequestID: p.RequestID, Kind: kind, Generated: now, Info: info, Parts: parts, Failed: failed, Consent: consent, Elapsed: now.Sub(start),
	}); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	rw, err := header("report.html", report.Len())
	if err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if _, err := rw.Write(report.Bytes()); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("write export: %w", err)
	}
	return nil
}

// storeBelow is the size under which a ZIP entry is stored uncompressed.
const storeBelow = 16 << 10

// maxCollectionsAtOnce bounds the queries one request runs at once on
// one datastore.
const maxCollectionsAtOnce = 4

// eachConcurrently calls fn for every item (collections of one
// datastore), a few at a time, and returns the first error.
func eachConcurrently[T any](items []T, fn func(T) error) error {
	if len(items) == 1 {
		return fn(items[0])
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	sem := make(chan struct{}, maxCollectionsAtOnce)
	for _, n := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(n); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// flateWriters pools BestSpeed compressors: a package is a dozen small
// files, and a new compressor costs more than compressing them.
var flateWriters sync.Pool

// fastDeflate compresses ZIP entries at flate.BestSpeed: exports are
// mostly small, and the time matters more than the last 10% of size.
func fastDeflate(w io.Writer) (io.WriteCloser, error) {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return pooledFlate{fw}, nil
	}
	fw, err := flate.NewWriter(w, flate.BestSpeed)
	if err != nil {
		return nil, err
	}
	return pooledFlate{fw}, nil
}

type pooledFlate struct{ *flate.Writer }

func (p pooledFlate) Close() error {
	err := p.Writer.Close()
	flateWriters.Put(p.Writer)
	return err
}

package document

// Limits on what one PDF may ask of the gateway, chosen for a fax: at most
// a few hundred pages, a few thousand objects each. Every structure a
// hostile file could inflate (cross-reference entries, object streams,
// decoded bytes, nesting) is bounded before it is allocated, so the memory
// a check takes follows from these numbers, not from what a file declares.
// A file beyond them is refused as "too complex to fax".
const (
	// maxPDFObjects bounds the object numbers of one file (the xref's
	// /Size): 1,000 objects for each of 200 pages. The structural check
	// keeps 24 bytes per object; pdfcpu, which merges, about 300.
	maxPDFObjects = 200_000
	// maxPDFNesting bounds arrays and dictionaries inside each other, and
	// the depth of the page tree. Real files stay below ten.
	maxPDFNesting = 32
	// maxPDFObjectItems bounds the values of one object (a /Kids array, a
	// font's glyph widths), so one object takes a few MB at most.
	maxPDFObjectItems = 250_000
	// maxPDFDecoded bounds one decoded cross-reference or object stream,
	// and maxPDFDecodedTotal all of them in one file (the CPU a file of
	// compressed zeros can cost).
	maxPDFDecoded      = 16 << 20
	maxPDFDecodedTotal = 256 << 20
	// maxPDFMergeValues bounds the values of all objects of a PDF to be
	// merged with others (checkMergeable): pdfcpu, which merges, takes
	// about 60 bytes a value, so about 120 MB.
	maxPDFMergeValues = 2_000_000
	// maxPDFSections bounds the incremental updates (xref sections).
	maxPDFSections = 1000
	// maxPDFStreamCache bounds the decoded object streams kept while one
	// file is checked; beyond it they are decoded again when needed.
	maxPDFStreamCache = 4 << 20
)

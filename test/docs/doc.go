// Package docs tests the documentation: the README stays a short front page
// with its two commands, every guide under docs/ has a table of contents
// naming its sections, and every relative link between them resolves to a
// file and, for a Markdown file, to a heading or an explicit anchor.
package docs

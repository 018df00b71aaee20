package expr

import "unicode/utf8"

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tEOF      tokKind = iota
	tIdent            // letter, then letters, digits, '_'
	tName             // #name placeholder
	tValue            // :value placeholder
	tNumber           // decimal digits (list indexes)
	tLParen           // (
	tRParen           // )
	tLBracket         // [
	tRBracket         // ]
	tComma            // ,
	tDot              // .
	tEq               // =
	tNe               // <>
	tLt               // <
	tLe               // <=
	tGt               // >
	tGe               // >=
	tPlus             // +
	tMinus            // -
	tBad              // any other character
)

// token is one lexeme; src[pos:end] is its text.
type token struct {
	kind     tokKind
	text     string
	pos, end int
}

func isLetter(c byte) bool    { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigitByte(c byte) bool { return c >= '0' && c <= '9' }
func isWordByte(c byte) bool  { return isLetter(c) || isDigitByte(c) || c == '_' }
func isSpace(c byte) bool     { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lex splits src into tokens, ending with one tEOF token. It never fails:
// characters outside the grammar become tBad tokens, which the parser
// reports as syntax errors.
func lex(src string) []token {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i >= len(src) {
			return append(toks, token{kind: tEOF, text: "<EOF>", pos: len(src), end: len(src)})
		}
		start := i
		c := src[i]
		kind := tBad
		switch {
		case isLetter(c):
			for i++; i < len(src) && isWordByte(src[i]); i++ {
			}
			kind = tIdent
		case isDigitByte(c):
			for i++; i < len(src) && isDigitByte(src[i]); i++ {
			}
			kind = tNumber
		case (c == '#' || c == ':') && i+1 < len(src) && isWordByte(src[i+1]):
			for i++; i < len(src) && isWordByte(src[i]); i++ {
			}
			kind = tName
			if c == ':' {
				kind = tValue
			}
		default:
			i++
			switch c {
			case '(':
				kind = tLParen
			case ')':
				kind = tRParen
			case '[':
				kind = tLBracket
			case ']':
				kind = tRBracket
			case ',':
				kind = tComma
			case '.':
				kind = tDot
			case '=':
				kind = tEq
			case '+':
				kind = tPlus
			case '-':
				kind = tMinus
			case '<':
				kind = tLt
				if i < len(src) && src[i] == '=' {
					kind, i = tLe, i+1
				} else if i < len(src) && src[i] == '>' {
					kind, i = tNe, i+1
				}
			case '>':
				kind = tGt
				if i < len(src) && src[i] == '=' {
					kind, i = tGe, i+1
				}
			default:
				if c >= utf8.RuneSelf {
					_, size := utf8.DecodeRuneInString(src[start:])
					i = start + size
				}
			}
		}
		toks = append(toks, token{kind: kind, text: src[start:i], pos: start, end: i})
	}
}

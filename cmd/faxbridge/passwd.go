package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/faxbridge/faxbridge/smtpd"
)

// cmdPasswd reads one password from stdin and prints its hash for a
// [[users]] entry. It reads a line rather than taking an argument, so the
// password never shows in the process list or the shell history.
func cmdPasswd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("passwd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	argon := fs.Bool("argon2id", false, "make an argon2id hash instead of bcrypt (for passwords over 72 bytes)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "faxbridge passwd: the password is read from standard input, not from arguments")
		return 2
	}
	if f, ok := stdin.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			fmt.Fprint(stderr, "Password (visible as you type): ")
		}
	}
	// A line longer than any password is an input mistake (a file piped
	// in by accident), not something to hash.
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintf(stderr, "faxbridge passwd: read the password: %v\n", err)
		return 1
	}
	password := strings.TrimRight(line, "\r\n")
	if len(password) > 4096 {
		fmt.Fprintln(stderr, "faxbridge passwd: the input is not one line of at most 4096 bytes")
		return 1
	}
	if password == "" {
		fmt.Fprintln(stderr, "faxbridge passwd: no password given on standard input")
		return 1
	}
	alg := smtpd.Bcrypt
	if *argon {
		alg = smtpd.Argon2id
	}
	hash, err := smtpd.HashPassword(password, alg)
	if err != nil {
		fmt.Fprintf(stderr, "faxbridge passwd: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, hash)
	return 0
}

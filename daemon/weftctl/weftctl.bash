# SPDX-License-Identifier: MIT
# bash completion for weftctl(1), installed by `make install` into
# $(PREFIX)/share/bash-completion/completions/weftctl. Completes the commands, each
# command's options, --state values, and pipeline names and job ids asked from the
# running daemon (on the socket given with -s/--socket on the line, else the default).

_weftctl_ask() { # weftctl with the line's --socket; errors (no daemon) complete nothing
	weftctl "${_weftctl_sock[@]}" "$@" 2>/dev/null
}
_weftctl_pipelines() { _weftctl_ask pipelines | awk '/^[^ ]/ { print $1 }'; }
_weftctl_jobs() { _weftctl_ask list --limit 200 "$@" | awk 'NR > 1 { print $1 }'; }

_weftctl() {
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
	local cmds="submit status wait cancel list retry purge stats metrics profile top trace pipelines schedules nodes ping reload drain undrain pause resume help"
	local global="--socket --json --timeout --help --version"
	local cmd= npos=0 i w
	_weftctl_sock=()
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		case $w in
		-s|--socket) _weftctl_sock=(--socket "${COMP_WORDS[i+1]}"); ((i++)) ;;
		--socket=*) _weftctl_sock=("$w") ;;
		--timeout|--delay|--at|--priority|--key|--deadline|-p|--pipeline|--state|-n|--limit|-f|--file|--seconds|--debug|-o|--output) ((i++)) ;;
		-*) ;;
		*) if [ -z "$cmd" ]; then cmd=$w; else npos=$((npos + 1)); fi ;;
		esac
	done
	case $prev in
	-s|--socket|-f|--file|-o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
	-p|--pipeline) COMPREPLY=($(compgen -W "$(_weftctl_pipelines)" -- "$cur")); return ;;
	--state) COMPREPLY=($(compgen -W "scheduled queued running retrying done failed canceled" -- "$cur")); return ;;
	--timeout|--delay|--at|--priority|--key|--deadline|-n|--limit|--seconds) return ;;
	--debug) COMPREPLY=($(compgen -W "0 1 2" -- "$cur")); return ;;
	esac
	if [[ $cur == -* ]]; then
		local opts=
		case $cmd in
		submit) opts="--wait --file --delay --at --priority --key --deadline" ;;
		status) opts="--payload" ;;
		list) opts="--pipeline --state --limit --outputs" ;;
		retry) opts="--pipeline --all --from-start" ;;
		purge) opts="--pipeline --all" ;;
		profile) opts="--seconds --debug --output" ;;
		trace) opts="--seconds --output" ;;
		esac
		COMPREPLY=($(compgen -W "$global $opts" -- "$cur"))
		return
	fi
	case $cmd in
	"") COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
	help) [ $npos = 0 ] && COMPREPLY=($(compgen -W "$cmds" -- "$cur")) ;;
	submit|stats|pause|resume|schedules) [ $npos = 0 ] && COMPREPLY=($(compgen -W "$(_weftctl_pipelines)" -- "$cur")) ;;
	status|wait|cancel) COMPREPLY=($(compgen -W "$(_weftctl_jobs)" -- "$cur")) ;;
	retry|purge) COMPREPLY=($(compgen -W "$(_weftctl_jobs --state failed)" -- "$cur")) ;;
	profile) [ $npos = 0 ] && COMPREPLY=($(compgen -W "cpu heap fibers block mutex" -- "$cur")) ;;
	esac
}
complete -F _weftctl weftctl

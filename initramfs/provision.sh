# shellcheck shell=sh
# Factory provisioning from a USB stick (docs/provisioning.md). Sourced by /init
# (BusyBox sh), which calls provision_from_stick on every boot before its boot flow.
#
#   look for a USB stick (lifeboat.usbwait=SECONDS [3]; no wait without a USB host)
#   with a bundle (lifeboat-master export): DIR/lifeboat-bundle at the stick's top
#   or one directory down; mounted read-only
#   lifeboat provision check     signed by a pinned key, for this group and device?
#   lifeboat provision partition the bundle's GPT layout, only onto a blank disk (or
#                                with Repartition: yes); a disk that has it is kept
#   the state file system, STATE/provisioning (the bundle's id), lifeboat.conf
#   lifeboat os write            the OS image from the stick (file://), resumable
#   lifeboat sync                the packages into the new slot, from the stick
#   STATE/provisioned, the log onto the stick (lifeboat-log/ID.log), then /init boots
#
# A power cut or a pulled stick leaves STATE/provisioning: the same stick later
# resumes (os write redoes only what is missing); without the stick the rescue
# system rebuilds from the master named by the bundle (/init's boot flow).

STICK=/mnt/stick
PV_LOG=/tmp/provision.log
STICK_DEV=""
BUNDLE=""

pv_say() {
	echo "lifeboat provision: $*"
	echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) $*" >>"$PV_LOG"
}

# pv_led working|ok|refused: tell the person by the LED that lifeboat.led=NAME
# names (/sys/class/leds/NAME), when the board has one: slow blink while working,
# steady on when done, fast blink when refused or failed. Needs the kernel's timer
# trigger for blinking; without it the LED is just on. Nothing when there is none.
pv_led() {
	name=$(cmdline_value lifeboat.led) || return 0
	led=${PV_LEDS:-/sys/class/leds}/$name
	[ -d "$led" ] || return 0
	case $1 in
	ok)
		echo none >"$led/trigger" 2>/dev/null
		cat "$led/max_brightness" >"$led/brightness" 2>/dev/null
		;;
	*)
		ms=500
		[ "$1" = working ] || ms=100
		if echo timer >"$led/trigger" 2>/dev/null; then
			echo $ms >"$led/delay_on" 2>/dev/null
			echo $ms >"$led/delay_off" 2>/dev/null
		else
			cat "$led/max_brightness" >"$led/brightness" 2>/dev/null
		fi
		;;
	esac
	return 0
}

# lb ARGS...: lifeboat on the state partition
lb() { lifeboat --state "$STATE" "$@"; }

# pv_run CMD...: run CMD, its output on the console and in the log
pv_run() {
	"$@" >/tmp/pv.out 2>&1
	pv_rc=$?
	cat /tmp/pv.out
	cat /tmp/pv.out >>"$PV_LOG"
	return $pv_rc
}

# part_now NAME: like part_dev, without waiting
part_now() {
	for u in /sys/class/block/*/uevent; do
		if grep -qx "PARTNAME=$1" "$u" 2>/dev/null; then
			d=${u%/uevent}
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

# stick_try DEV: mount DEV read-only and find a bundle on it (sets BUNDLE)
stick_try() {
	mkdir -p "$STICK"
	mount -t vfat -o ro,iocharset=iso8859-1 "$1" "$STICK" 2>/dev/null ||
		mount -t ext4 -o ro,noload "$1" "$STICK" 2>/dev/null || return 1
	for m in "$STICK"/lifeboat-bundle "$STICK"/*/lifeboat-bundle; do
		if [ -f "$m" ]; then
			BUNDLE=${m%/lifeboat-bundle}
			STICK_DEV=$1
			return 0
		fi
	done
	umount "$STICK"
	return 1
}

# stick_find: the first USB storage device holding a bundle, waiting for USB
# sticks to show up for lifeboat.usbwait seconds (none without a USB host)
stick_find() {
	ls /sys/bus/usb/devices/usb* >/dev/null 2>&1 || return 1
	wait_s=$(cmdline_value lifeboat.usbwait || echo 3)
	n=0
	while :; do
		for b in /sys/block/sd*; do
			[ -e "$b" ] || continue
			case $(readlink -f "$b") in */usb*) ;; *) continue ;; esac
			for p in "$b"/sd* "$b"; do # partitions, then the whole (superfloppy) stick
				[ -e "$p/dev" ] && stick_try "/dev/${p##*/}" && return 0
			done
		done
		[ "$n" -ge $((wait_s * 5)) ] 2>/dev/null && return 1
		sleep 0.2
		n=$((n + 1))
	done
}

# stick_log NAME: the log onto the stick (lifeboat-log/NAME.log), then unmount it
stick_log() {
	if mount -o remount,rw "$STICK" 2>/dev/null; then
		mkdir -p "$STICK/lifeboat-log" &&
			cp "$PV_LOG" "$STICK/lifeboat-log/$1.log" &&
			pv_say "log written to the stick: lifeboat-log/$1.log"
		sync
	else
		warn "the stick cannot be written: no log on it"
	fi
	umount "$STICK" 2>/dev/null
}

# hw_id: this device's id from the hardware: lifeboat.device=, the DMI serial
# number, the device tree's serial-number (none when it is not a plain word)
hw_id() {
	id=$(cmdline_value lifeboat.device) ||
		id=$(cat /sys/class/dmi/id/product_serial 2>/dev/null) ||
		id=""
	[ -n "$id" ] || id=$(tr -d '\000' </proc/device-tree/serial-number 2>/dev/null)
	case $id in "" | *[!A-Za-z0-9._+-]* | 0 | Default*) id="" ;; esac
	echo "$id"
}

# internal_disk: the disk with the partition "state", else the first disk that is
# not on USB (nor a loop, RAM, MTD or optical device)
internal_disk() {
	if s=$(part_now state); then
		p=$(readlink -f "/sys/class/block/${s#/dev/}")
		p=${p%/*}
		echo "/dev/${p##*/}"
		return 0
	fi
	for b in /sys/block/*; do
		case ${b##*/} in loop* | ram* | mtd* | sr* | zram* | fd*) continue ;; esac
		case $(readlink -f "$b") in */usb*) continue ;; esac
		echo "/dev/${b##*/}"
		return 0
	done
	return 1
}

# pv_apply: partition, state, identity, OS image, packages (resumable)
pv_apply() {
	pv_say "provisioning $DISK for group $PV_GROUP${PV_DEVICE:+, device $PV_DEVICE}" \
		"(OS ${PV_IMAGE_VERSION:-none})"
	res=$(lifeboat provision partition "$BUNDLE" --pubkey "$PUBKEY" --device-id "$ID" \
		--group "$GROUP" --disk "$DISK" 2>/tmp/pv.err)
	rc=$?
	cat /tmp/pv.err >>"$PV_LOG"
	if [ $rc != 0 ]; then
		pv_say "refused: $(tail -n 1 /tmp/pv.err | sed 's/^lifeboat: //')"
		return 2
	fi
	pv_say "$(tail -n 1 /tmp/pv.err | sed 's/^lifeboat: provision: //')"
	sdev=$(part_dev state) || { pv_say "failed: no partition 'state' after partitioning"; return 1; }
	slot=$(part_dev rootfs-a) || { pv_say "failed: no partition 'rootfs-a'"; return 1; }
	mkdir -p "$STATE" "$NEW"
	fresh=""
	[ "$res" = partitioned ] && fresh=1
	if [ -z "$fresh" ]; then
		e2fsck -p "$sdev" >/dev/null 2>&1
		if ! mount -t ext4 -o noatime "$sdev" "$STATE" 2>/dev/null; then
			fresh=1
		elif [ "$(cat "$STATE/provisioning" 2>/dev/null)" = "$PV_ID" ]; then
			pv_say "resuming the provisioning this stick started"
		else
			# a provisioned device given another bundle: its state (boot state,
			# caches) stays; the slot and its package state are rewritten
			pv_say "the state file system on $sdev is kept"
		fi
	fi
	if [ -n "$fresh" ]; then
		pv_say "creating the state file system on $sdev"
		pv_run /sbin/mke2fs -q -F -t ext4 -L lbstate "$sdev" || { pv_say "failed: mke2fs $sdev"; return 1; }
		mount -t ext4 -o noatime "$sdev" "$STATE" || { pv_say "failed: mount $sdev"; return 1; }
	fi
	# the marker first: from here on an interrupted provisioning is known as one
	if ! { echo "$PV_ID" >"$STATE/provisioning.tmp" && sync &&
		mv "$STATE/provisioning.tmp" "$STATE/provisioning" && sync; }; then
		pv_say "failed: cannot write $STATE/provisioning"
		return 1
	fi
	pv_run lifeboat provision conf "$BUNDLE" --pubkey "$PUBKEY" --device-id "$ID" --group "$GROUP" \
		--out "$CONF" || { pv_say "failed: writing $CONF"; return 1; }
	pv_say "writing the OS image ${PV_IMAGE_VERSION:-} onto rootfs-a ($slot)"
	pv_run lb --slot a os write --slot "$slot" --config "$CONF" --pubkey "$PUBKEY" \
		--master "file://$BUNDLE" --reset-db || { pv_say "failed: os write"; return 1; }
	mount -t ext4 "$slot" "$NEW" || { pv_say "failed: cannot mount the new slot $slot"; return 1; }
	pv_say "installing the packages"
	if ! pv_run lb --slot a --root "$NEW" sync --config "$CONF" --pubkey "$PUBKEY" \
		--master "file://$BUNDLE" || ! pv_run lb --slot a --root "$NEW" --quiet verify; then
		umount "$NEW"
		pv_say "failed: installing the packages"
		return 1
	fi
	pv_run lb --slot a --root "$NEW" list
	umount "$NEW"
	pv_run lb boot reset --slot a
	echo "$PV_ID" >"$STATE/provisioned.tmp" && sync && mv "$STATE/provisioned.tmp" "$STATE/provisioned" &&
		rm -f "$STATE/provisioning" && sync
}

# provision_from_stick: returns when there is no stick, when it is refused, and
# when the device is provisioned (the boot flow then boots the new system)
provision_from_stick() {
	stick_find || return 0
	: >"$PV_LOG"
	pv_say "bundle found on $STICK_DEV (${BUNDLE#"$STICK"}/lifeboat-bundle)"
	pv_led working
	if ! DISK=$(internal_disk); then
		pv_say "refused: no internal disk found"
		pv_led refused
		stick_log "unknown-$(date -u +%Y%m%dT%H%M%S)"
		return 0
	fi
	# what the device already knows of itself (a provisioned device's state)
	GROUP="" ID="" done_id="" marker=""
	if sdev=$(part_now state) && mkdir -p "$STATE" && mount -t ext4 -o ro,noload "$sdev" "$STATE" 2>/dev/null; then
		GROUP=$(conf_value Group)
		ID=$(conf_value Device-Id)
		done_id=$(cat "$STATE/provisioned" 2>/dev/null)
		marker=$(cat "$STATE/provisioning" 2>/dev/null)
		umount "$STATE"
	fi
	[ -n "$ID" ] || ID=$(hw_id)
	[ -n "$GROUP" ] || GROUP=$(cmdline_value lifeboat.group)
	logname=${ID:-$(cat "/sys/block/${DISK#/dev/}/serial" 2>/dev/null)}
	logname=${logname:-unknown-$(date -u +%Y%m%dT%H%M%S)}
	if ! out=$(lifeboat provision check "$BUNDLE" --pubkey "$PUBKEY" --device-id "$ID" \
		--group "$GROUP" 2>/tmp/pv.err); then
		cat /tmp/pv.err >>"$PV_LOG"
		pv_say "refused: $(tail -n 1 /tmp/pv.err | sed 's/^lifeboat: //'); $DISK left as it is"
		pv_led refused
		stick_log "$logname"
		return 0
	fi
	eval "$out"
	logname=${PV_DEVICE:-$logname}
	if [ "$done_id" = "$PV_ID" ] && [ -z "$marker" ]; then
		pv_say "this device was provisioned from this bundle already: remove the stick"
		pv_led ok
		umount "$STICK" 2>/dev/null
		return 0
	fi
	pv_apply
	rc=$?
	if [ $rc = 0 ]; then
		umount "$STATE"
		pv_say "provisioned: group $PV_GROUP${PV_DEVICE:+, device $PV_DEVICE}, OS ${PV_IMAGE_VERSION:-none}"
		stick_log "$logname"
		pv_led ok
		echo "lifeboat provision: done, remove the stick"
	else
		pv_led refused
		grep -q " $STATE " /proc/mounts && umount "$STATE"
		stick_log "$logname"
		[ $rc = 2 ] || pv_say "failed (log on the stick: lifeboat-log/$logname.log): the same stick resumes at the next boot"
	fi
}

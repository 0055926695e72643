# shellcheck shell=bash
# Factory provisioning bundles (docs/provisioning.md): lifeboat-master export, the
# signed manifest, lifeboat provision check|partition|conf on a disk image file, and
# a file:// sync from the bundle into a throwaway root.

LIFEBOAT_MASTER=${LIFEBOAT_MASTER:-$PWD/build/lifeboat-master}

master() { "$LIFEBOAT_MASTER" "$@"; }

# a published tree ($T/tree, key $T/key) with group "stable" (app, libc) and a small
# OS image, device dev-0001 in it
provision_tree() {
	mkpkg libc 1.0 -f usr/lib/libc=1.0
	mkpkg app 1.0 -d "libc" -f usr/bin/app=1
	truncate -s 2M "$T/os.img"
	mkfs.ext4 -q -F "$T/os.img"
	cat >"$T/conf" <<-EOF
	Group: stable
	Packages: app
	Image: $T/os.img
	Image-Version: 1.0

	Group: other
	Packages: libc

	Device: dev-0001
	Group: stable
	EOF
	master keygen "$T/key" >/dev/null
	master publish --pool "$POOL" --desired "$T/conf" --key "$T/key" --out "$T/tree" 2>"$T/err" ||
		fail "publish: $(cat "$T/err")"
}

# export [ARGS...]: a bundle of group stable into $T/bundle
export_bundle() {
	master export --tree "$T/tree" --group stable --key "$T/key" --out "$T/bundle" "$@" 2>"$T/err" ||
		fail "export: $(cat "$T/err")"
}

pv() { "$LIFEBOAT" provision "$@"; }

test_provision_export_manifest_verifies() {
	provision_tree
	printf 'Boot-Max-Attempts: 4\n' >"$T/extra"
	export_bundle --device dev-0001,dev-0002 --master http://updates.example.invalid --conf "$T/extra"
	grep -q "export: .*group stable, devices dev-0001,dev-0002, 2 packages, image 1.0" "$T/err" ||
		fail "no summary line: $(cat "$T/err")"
	# the stock minisign verifies the manifest with the master's public key
	minisign -Vqm "$T/bundle/lifeboat-bundle" -p "$T/key.pub" || fail "minisign -V of the manifest"
	local m=$T/bundle/lifeboat-bundle
	local line
	for line in "Format: 1" "Group: stable" "Devices: dev-0001, dev-0002" "Repartition: no" \
		"Layout:" " rescue 16" " state 32" " rootfs-a 64" " Boot-Max-Attempts: 4" \
		"Master: http://updates.example.invalid"; do
		grep -qxF -- "$line" "$m" || { cat "$m"; fail "manifest: no line '$line'"; }
	done
	# a subset of the tree, under the same paths
	cmp -s "$T/tree/groups/stable/state" "$T/bundle/groups/stable/state" || fail "state not copied"
	cmp -s "$T/tree/devices/dev-0001" "$T/bundle/devices/dev-0001" || fail "pointer not copied"
	[ ! -e "$T/bundle/groups/other" ] || fail "another group's state in the bundle"
	assert_eq "$(find "$T/bundle/pool" -name '*.deb' | wc -l)" 2 "pool files"
	local img
	img=$(sed -n 's/^Image: //p' "$T/tree/groups/stable/state")
	cmp -s "$T/tree/$img" "$T/bundle/$img" || fail "image pack not copied"
	[ -z "$(find "$T/bundle" -name '*.delta' -o -name '*.dindex' -o -name '*.lb-tmp')" ] || fail "extra files"
	# the device's view
	pv check "$T/bundle" --pubkey "$T/key.pub" --device-id dev-0002 >"$T/out" || fail "check"
	eval "$(cat "$T/out")"
	assert_eq "$PV_GROUP $PV_DEVICE $PV_REPARTITION $PV_IMAGE_VERSION" "stable dev-0002 no 1.0" "check output"
	pv conf "$T/bundle" --pubkey "$T/key.pub" --device-id dev-0002 --out "$T/lifeboat.conf"
	assert_eq "$(cat "$T/lifeboat.conf")" "Master: http://updates.example.invalid
Device-Id: dev-0002
Group: stable
Boot-Max-Attempts: 4" "lifeboat.conf"
}

test_provision_sync_from_bundle() {
	provision_tree
	export_bundle --device dev-0001
	# the bundle alone (the tree gone) converges a root through file://
	rm -rf "$T/tree"
	lb sync --master "file://$T/bundle" --pubkey "$T/key.pub" --device-id dev-0001 2>"$T/err" ||
		fail "sync: $(cat "$T/err")"
	assert_eq "$(lb list | tr '\n' ' ')" "app 1.0 libc 1.0 " "packages"
	# a device without a pointer in the bundle uses its configured group
	rm -rf "$ROOT" && mkdir -p "$ROOT"
	lb sync --master "file://$T/bundle" --pubkey "$T/key.pub" --device-id dev-0009 --group stable \
		2>"$T/err" || fail "sync by group: $(cat "$T/err")"
	assert_eq "$(lb list | tr '\n' ' ')" "app 1.0 libc 1.0 " "packages by group"
}

test_provision_refuses_other_group_and_device() {
	provision_tree
	export_bundle --device dev-0001
	expect_fail 4 "the bundle is for group 'stable', this device is in 'other'" \
		pv check "$T/bundle" --pubkey "$T/key.pub" --group other
	expect_fail 4 "the bundle is for device dev-0001, this is dev-0002" \
		pv check "$T/bundle" --pubkey "$T/key.pub" --device-id dev-0002
	truncate -s 160M "$T/disk.img"
	expect_fail 4 "this device is in 'other'" \
		pv partition "$T/bundle" --pubkey "$T/key.pub" --group other --disk "$T/disk.img"
	[ -z "$(tr -d '\0' <"$T/disk.img" | head -c 1)" ] || fail "the disk was written"
	# a device with no id takes the bundle's only one; with two, it needs its own
	pv check "$T/bundle" --pubkey "$T/key.pub" | grep -qx "PV_DEVICE='dev-0001'" || fail "single device"
	export_bundle --device dev-0001,dev-0002
	expect_fail 4 "this device has no id" pv check "$T/bundle" --pubkey "$T/key.pub"
	# the master refuses to put a device of another group into the bundle
	expect_fail 2 "device dev-0001 is in group 'stable', not 'other'" \
		master export --tree "$T/tree" --group other --key "$T/key" --out "$T/b2" --device dev-0001
}

test_provision_refuses_bad_signature() {
	provision_tree
	export_bundle
	master keygen "$T/other" >/dev/null
	# another master's key
	expect_fail 5 "signature: made by unknown key" pv check "$T/bundle" --pubkey "$T/other.pub"
	# a tampered manifest: a layout that would wipe the disk
	sed -i 's/^Repartition: no/Repartition: yes/' "$T/bundle/lifeboat-bundle"
	expect_fail 5 "signature: does not verify" pv check "$T/bundle" --pubkey "$T/key.pub"
	! minisign -Vqm "$T/bundle/lifeboat-bundle" -p "$T/key.pub" 2>/dev/null || fail "minisign accepted it"
	truncate -s 160M "$T/disk.img"
	expect_fail 5 "signature" pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/disk.img"
	[ -z "$(tr -d '\0' <"$T/disk.img" | head -c 1)" ] || fail "the disk was written"
	# no signature at all
	export_bundle
	rm "$T/bundle/lifeboat-bundle.minisig"
	expect_fail 5 "the bundle is not signed" pv check "$T/bundle" --pubkey "$T/key.pub"
	# the export needs the key the tree was published with
	expect_fail 5 "export with the key that published the tree" \
		master export --tree "$T/tree" --group stable --key "$T/other" --out "$T/b3"
}

test_provision_partition_blank_only() {
	provision_tree
	export_bundle --slots 2
	truncate -s 300M "$T/disk.img"
	pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/disk.img" >"$T/out" 2>"$T/err" ||
		fail "partition: $(cat "$T/err")"
	assert_eq "$(cat "$T/out")" partitioned "first run"
	sfdisk -d "$T/disk.img" >"$T/sfdisk" || fail "sfdisk cannot read the table"
	assert_eq "$(sed -n 's/.*start= *\([0-9]*\), size= *\([0-9]*\),.*name="\(.*\)"/\1 \2 \3/p' "$T/sfdisk" | tr '\n' ' ')" \
		"2048 32768 rescue 34816 65536 state 100352 131072 rootfs-a 231424 131072 rootfs-b " "GPT layout"
	sfdisk --verify "$T/disk.img" >/dev/null 2>&1 || fail "sfdisk --verify"
	# the same layout again: kept (a resumed provisioning)
	pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/disk.img" >"$T/out" 2>/dev/null
	assert_eq "$(cat "$T/out")" kept "second run"
	# a disk with another layout is left alone unless the bundle says Repartition: yes
	export_bundle --layout rescue:8,state:16,rootfs-a:100
	cp "$T/disk.img" "$T/before.img"
	expect_fail 4 "does not say 'Repartition: yes'" \
		pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/disk.img"
	cmp -s "$T/disk.img" "$T/before.img" || fail "a disk with data was changed"
	export_bundle --layout rescue:8,state:16,rootfs-a:100 --repartition
	pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/disk.img" >"$T/out" 2>/dev/null ||
		fail "repartition"
	assert_eq "$(sfdisk -d "$T/disk.img" | grep -c 'name=')" 3 "repartitioned"
	# a disk that is too small
	truncate -s 50M "$T/small.img"
	expect_fail 6 "the layout needs" pv partition "$T/bundle" --pubkey "$T/key.pub" --disk "$T/small.img"
}

# the LED that lifeboat.led= names tells the person: blinking while working (the
# timer trigger), on when done, fast blinking when refused; nothing without one
test_provision_led() {
	local l=$T/leds/status
	mkdir -p "$l"
	echo 255 >"$l/max_brightness"
	(
		# shellcheck disable=SC2034 # read by provision.sh
		CMDLINE="quiet lifeboat.led=status"
		cmdline_value() {
			local w v=""
			for w in $CMDLINE; do case $w in "$1"=*) v=${w#*=} ;; esac; done
			[ -n "$v" ] && echo "$v"
		}
		PV_LEDS=$T/leds
		# shellcheck source=initramfs/provision.sh
		. initramfs/provision.sh
		pv_led working
		[ "$(cat "$l/trigger")" = timer ] && [ "$(cat "$l/delay_on")" = 500 ] || exit 1
		pv_led refused
		[ "$(cat "$l/delay_on")" = 100 ] || exit 2
		pv_led ok
		[ "$(cat "$l/trigger")" = none ] && [ "$(cat "$l/brightness")" = 255 ] || exit 3
		CMDLINE=quiet
		rm "$l/brightness"
		pv_led ok
		[ ! -e "$l/brightness" ] || exit 4
	) || fail "pv_led: step $?"
}

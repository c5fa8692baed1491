// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {IConsortium, Roles} from "./IConsortium.sol";
import {IDataGrants} from "./IDataGrants.sol";

/// Datasets and the grants that let one agency use another agency's dataset.
///
/// A grant is an offer signed by the dataset's owner (the grantor) and an acceptance signed by the
/// grantee, both as EIP-712 typed data, so either agency can sign offline and anyone can submit.
/// The grant id is the EIP-712 digest of the offer: computable offline, and unique, so the same
/// signed offer can never be submitted twice. Nothing personal is stored: schema, purpose and
/// conditions are hashes; the data stays with its owner, served by the gateway the owner
/// designates for the dataset (`setGateway`), which records every delivery through AccessLog.
contract DataGrants is IDataGrants {
    /// How sensitive a dataset is, for the grantor's and auditor's policies.
    enum Sensitivity {
        Public,
        Internal,
        Confidential,
        Restricted
    }

    /// A grant's status. Stored states are Offered, Accepted, Suspended, Revoked and Withdrawn;
    /// `statusOf` adds the time-dependent Active (accepted and within validity) and Expired
    /// (validity over and not revoked or withdrawn before).
    enum GrantStatus {
        None,
        Offered,
        Accepted,
        Active,
        Expired,
        Suspended,
        Revoked,
        Withdrawn
    }

    struct Dataset {
        address owner;
        uint16 fieldCount;
        Sensitivity sensitivity;
        uint64 registeredAt;
        bytes32 cityId;
        bytes32 schemaHash;
    }

    /// What the grantor signs. `salt` makes two otherwise equal offers distinct grants.
    struct GrantOffer {
        bytes32 datasetId;
        address grantor;
        address grantee;
        bytes32 purposeCode;
        bytes32 purposeHash;
        uint256 fieldScope;
        uint64 validFrom;
        uint64 validUntil;
        uint32 accessQuota;
        bytes32 conditionsHash;
        bytes32 salt;
    }

    struct Grant {
        bytes32 datasetId;
        address grantor;
        uint64 validFrom;
        uint32 accessQuota;
        address grantee;
        uint64 validUntil;
        uint32 accessesUsed;
        bytes32 purposeCode;
        bytes32 purposeHash;
        uint256 fieldScope;
        bytes32 conditionsHash;
        GrantStatus status;
    }

    /// Where a dataset is served: the gateway agency that records its deliveries, and the HTTPS
    /// URL grantees reach it at.
    struct Gateway {
        address gateway;
        string url;
    }

    bytes32 private constant DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant NAME_HASH = keccak256("cityledger DataGrants");
    bytes32 private constant VERSION_HASH = keccak256("1");
    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "GrantOffer(bytes32 datasetId,address grantor,address grantee,bytes32 purposeCode,bytes32 purposeHash,"
        "uint256 fieldScope,uint64 validFrom,uint64 validUntil,uint32 accessQuota,bytes32 conditionsHash,bytes32 salt)"
    );
    bytes32 public constant ACCEPTANCE_TYPEHASH = keccak256("GrantAcceptance(bytes32 grantId)");
    // Upper bound of a canonical (low) s value: secp256k1 order / 2 (EIP-2).
    uint256 private constant MAX_S = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;
    uint16 public constant MAX_FIELDS = 256;
    uint256 public constant MAX_GATEWAY_URL = 256;

    IConsortium public immutable consortium;

    mapping(bytes32 datasetId => Dataset) private _datasets;
    bytes32[] private _datasetIds;
    mapping(bytes32 grantId => Grant) private _grants;
    mapping(bytes32 datasetId => bytes32[]) private _byDataset;
    mapping(address grantor => bytes32[]) private _byGrantor;
    mapping(address grantee => bytes32[]) private _byGrantee;
    mapping(bytes32 datasetId => Gateway) private _gateways;

    event DatasetRegistered(
        bytes32 indexed datasetId,
        address indexed owner,
        bytes32 indexed cityId,
        string name,
        bytes32 schemaHash,
        Sensitivity sensitivity,
        uint16 fieldCount
    );
    /// `gateway` zero (and `url` empty) when the owner withdrew the designation.
    event GatewayDesignated(bytes32 indexed datasetId, address indexed owner, address indexed gateway, string url);
    /// The full signed offer, so the grant id can be recomputed from the log alone.
    event GrantOffered(
        bytes32 indexed grantId, bytes32 indexed datasetId, address indexed grantor, GrantOffer offer
    );
    event GrantAccepted(bytes32 indexed grantId, bytes32 indexed datasetId, address indexed grantee);
    event OfferWithdrawn(bytes32 indexed grantId, bytes32 indexed datasetId, address indexed grantor);
    event GrantRevoked(
        bytes32 indexed grantId, bytes32 indexed datasetId, address indexed grantor, bytes32 reasonHash
    );
    /// `cause` is the auditor's reason hash, or the incident id when LeakRegistry suspends.
    event GrantSuspended(
        bytes32 indexed grantId, bytes32 indexed datasetId, address indexed by, bytes32 cause, bool forIncident
    );
    event GrantReinstated(
        bytes32 indexed grantId, bytes32 indexed datasetId, address indexed auditor, bytes32 reasonHash
    );
    event AccessCounted(bytes32 indexed grantId, address indexed grantee, uint32 accessesUsed, uint32 accessQuota);

    error MissingRole(address agency, uint8 role);
    error ZeroDatasetId();
    error DatasetExists(bytes32 datasetId);
    error UnknownDataset(bytes32 datasetId);
    error InvalidFieldCount(uint16 fieldCount);
    error NotDatasetOwner(bytes32 datasetId, address grantor, address owner);
    error SelfGrant(address agency);
    error EmptyPurpose();
    error EmptyFieldScope();
    error FieldScopeTooWide(bytes32 datasetId, uint256 fieldScope, uint16 fieldCount);
    error InvalidValidity(uint64 validFrom, uint64 validUntil);
    error OfferExpired(uint64 validUntil, uint256 now_);
    error ZeroQuota();
    error GrantExists(bytes32 grantId);
    error UnknownGrant(bytes32 grantId);
    error BadSignatureLength(uint256 length);
    error BadSignatureV(uint8 v);
    error BadSignatureS(bytes32 s);
    error WrongSigner(bytes32 digest, address expected, address recovered);
    error NotGrantor(bytes32 grantId, address caller);
    error NotGrantee(bytes32 grantId, address caller);
    error WrongStatus(bytes32 grantId, GrantStatus status);
    error NotAccessLog(address caller);
    error NotLeakRegistry(address caller);
    error EmptyFieldMask();
    error FieldsOutOfScope(bytes32 grantId, uint256 fieldsMask, uint256 fieldScope);
    error QuotaExhausted(bytes32 grantId, uint32 accessQuota);
    error InvalidPage(uint256 limit);
    error NotGatewayOfCity(address gateway, bytes32 cityId);
    error InvalidGatewayUrl(uint256 length);

    constructor(IConsortium consortium_) {
        consortium = consortium_;
    }

    // ---------------------------------------------------------------- datasets

    /// Registers a dataset owned by the calling agency (which must hold GRANTOR). `name` is a
    /// public, non-personal label such as "jiamusi/epidemic-travel-trace"; `datasetId` is chosen
    /// by the owner, typically keccak256 of that name.
    function registerDataset(
        bytes32 datasetId,
        string calldata name,
        bytes32 schemaHash,
        Sensitivity sensitivity,
        uint16 fieldCount
    ) external {
        _requireRole(msg.sender, Roles.GRANTOR);
        if (datasetId == bytes32(0)) revert ZeroDatasetId();
        if (_datasets[datasetId].owner != address(0)) revert DatasetExists(datasetId);
        if (fieldCount == 0 || fieldCount > MAX_FIELDS) revert InvalidFieldCount(fieldCount);
        bytes32 cityId = consortium.cityOfAgency(msg.sender);
        _datasets[datasetId] = Dataset({
            owner: msg.sender,
            fieldCount: fieldCount,
            sensitivity: sensitivity,
            registeredAt: uint64(block.timestamp),
            cityId: cityId,
            schemaHash: schemaHash
        });
        _datasetIds.push(datasetId);
        emit DatasetRegistered(datasetId, msg.sender, cityId, name, schemaHash, sensitivity, fieldCount);
    }

    /// The dataset's owner designates the gateway that serves the dataset: an agency of the
    /// owner's city holding GATEWAY, reachable at `url` (1 to 256 bytes). Only that gateway may
    /// record deliveries of the dataset (AccessLog.recordDelivery). The zero address with an
    /// empty URL withdraws the designation; a later designation replaces the earlier one.
    function setGateway(bytes32 datasetId, address gateway, string calldata url) external {
        Dataset storage d = _datasets[datasetId];
        if (d.owner == address(0)) revert UnknownDataset(datasetId);
        if (msg.sender != d.owner) revert NotDatasetOwner(datasetId, msg.sender, d.owner);
        _requireRole(msg.sender, Roles.GRANTOR);
        uint256 urlLength = bytes(url).length;
        if (gateway == address(0)) {
            if (urlLength != 0) revert InvalidGatewayUrl(urlLength);
        } else {
            if (!consortium.hasRole(gateway, Roles.GATEWAY) || consortium.cityOfAgency(gateway) != d.cityId) {
                revert NotGatewayOfCity(gateway, d.cityId);
            }
            if (urlLength == 0 || urlLength > MAX_GATEWAY_URL) revert InvalidGatewayUrl(urlLength);
        }
        _gateways[datasetId] = Gateway({gateway: gateway, url: url});
        emit GatewayDesignated(datasetId, msg.sender, gateway, url);
    }

    // ---------------------------------------------------------------- offers and acceptance

    /// Records an offer signed by its grantor. Anyone may submit it.
    function offerGrant(GrantOffer calldata offer, bytes calldata grantorSig) external returns (bytes32 grantId) {
        grantId = _offer(offer, grantorSig);
    }

    /// Accepts an offered grant with the grantee's signature over GrantAcceptance(grantId).
    function acceptGrant(bytes32 grantId, bytes calldata granteeSig) external {
        Grant storage g = _existing(grantId);
        if (statusOf(grantId) != GrantStatus.Offered) revert WrongStatus(grantId, statusOf(grantId));
        _accept(grantId, g, granteeSig);
    }

    /// Offer and acceptance in one transaction, with both signatures.
    function submitGrant(GrantOffer calldata offer, bytes calldata grantorSig, bytes calldata granteeSig)
        external
        returns (bytes32 grantId)
    {
        grantId = _offer(offer, grantorSig);
        _accept(grantId, _grants[grantId], granteeSig);
    }

    /// The grantor takes back an offer that has not been accepted yet.
    function withdrawOffer(bytes32 grantId) external {
        Grant storage g = _existing(grantId);
        if (msg.sender != g.grantor) revert NotGrantor(grantId, msg.sender);
        if (statusOf(grantId) != GrantStatus.Offered) revert WrongStatus(grantId, statusOf(grantId));
        g.status = GrantStatus.Withdrawn;
        emit OfferWithdrawn(grantId, g.datasetId, g.grantor);
    }

    // ---------------------------------------------------------------- life cycle

    /// The grantor ends an accepted grant for good (also while it is suspended).
    function revoke(bytes32 grantId, bytes32 reasonHash) external {
        Grant storage g = _existing(grantId);
        if (msg.sender != g.grantor) revert NotGrantor(grantId, msg.sender);
        GrantStatus status = statusOf(grantId);
        if (status != GrantStatus.Accepted && status != GrantStatus.Active && status != GrantStatus.Suspended) {
            revert WrongStatus(grantId, status);
        }
        g.status = GrantStatus.Revoked;
        emit GrantRevoked(grantId, g.datasetId, msg.sender, reasonHash);
    }

    /// An auditor suspends an accepted grant during an investigation.
    function suspend(bytes32 grantId, bytes32 reasonHash) external {
        _requireRole(msg.sender, Roles.AUDITOR);
        Grant storage g = _existing(grantId);
        GrantStatus status = statusOf(grantId);
        if (status != GrantStatus.Accepted && status != GrantStatus.Active) revert WrongStatus(grantId, status);
        g.status = GrantStatus.Suspended;
        emit GrantSuspended(grantId, g.datasetId, msg.sender, reasonHash, false);
    }

    /// LeakRegistry suspends a grant implicated in an incident. A grant already suspended stays
    /// suspended and the incident is recorded against it too; an ended grant is refused.
    function suspendForIncident(bytes32 grantId, bytes32 incidentId) external {
        if (msg.sender != consortium.systemContract(bytes32("LeakRegistry"))) revert NotLeakRegistry(msg.sender);
        Grant storage g = _existing(grantId);
        GrantStatus status = statusOf(grantId);
        if (status != GrantStatus.Accepted && status != GrantStatus.Active && status != GrantStatus.Suspended) {
            revert WrongStatus(grantId, status);
        }
        g.status = GrantStatus.Suspended;
        emit GrantSuspended(grantId, g.datasetId, msg.sender, incidentId, true);
    }

    /// An auditor lifts a suspension; the grant is accepted again (Active if within validity).
    function reinstate(bytes32 grantId, bytes32 reasonHash) external {
        _requireRole(msg.sender, Roles.AUDITOR);
        Grant storage g = _existing(grantId);
        GrantStatus status = statusOf(grantId);
        if (status != GrantStatus.Suspended) revert WrongStatus(grantId, status);
        g.status = GrantStatus.Accepted;
        emit GrantReinstated(grantId, g.datasetId, msg.sender, reasonHash);
    }

    /// See IDataGrants. Only AccessLog may call it.
    function consumeAccess(bytes32 grantId, address accessor, uint256 fieldsMask)
        external
        returns (uint32 accessesUsed)
    {
        if (msg.sender != consortium.systemContract(bytes32("AccessLog"))) revert NotAccessLog(msg.sender);
        Grant storage g = _existing(grantId);
        if (accessor != g.grantee) revert NotGrantee(grantId, accessor);
        _requireRole(accessor, Roles.GRANTEE);
        // A grant is used only while both of its agencies are current: a removed city's grants,
        // either side, are inert (and its grantor, no longer able to transact, cannot revoke).
        _requireRole(g.grantor, Roles.GRANTOR);
        GrantStatus status = statusOf(grantId);
        if (status != GrantStatus.Active) revert WrongStatus(grantId, status);
        if (fieldsMask == 0) revert EmptyFieldMask();
        if (fieldsMask & ~g.fieldScope != 0) revert FieldsOutOfScope(grantId, fieldsMask, g.fieldScope);
        if (g.accessesUsed >= g.accessQuota) revert QuotaExhausted(grantId, g.accessQuota);
        accessesUsed = g.accessesUsed + 1;
        g.accessesUsed = accessesUsed;
        emit AccessCounted(grantId, accessor, accessesUsed, g.accessQuota);
    }

    // ---------------------------------------------------------------- views

    function statusOf(bytes32 grantId) public view returns (GrantStatus) {
        Grant storage g = _grants[grantId];
        GrantStatus stored = g.status;
        if (stored == GrantStatus.None || stored == GrantStatus.Revoked || stored == GrantStatus.Withdrawn) {
            return stored;
        }
        if (block.timestamp >= g.validUntil) return GrantStatus.Expired;
        if (stored == GrantStatus.Accepted && block.timestamp >= g.validFrom) return GrantStatus.Active;
        return stored;
    }

    function isGrantActive(bytes32 grantId) external view returns (bool) {
        return statusOf(grantId) == GrantStatus.Active;
    }

    /// The designated gateway of a dataset and its URL (zero and empty if none).
    function gatewayOf(bytes32 datasetId) external view returns (Gateway memory) {
        return _gateways[datasetId];
    }

    function datasetGateway(bytes32 datasetId) external view returns (address) {
        return _gateways[datasetId].gateway;
    }

    function datasetOf(bytes32 grantId) external view returns (bytes32) {
        return _grants[grantId].datasetId;
    }

    function partiesOf(bytes32 grantId) external view returns (address grantor, address grantee) {
        Grant storage g = _grants[grantId];
        return (g.grantor, g.grantee);
    }

    /// The stored grant; `status` there is the stored state, use `statusOf` for the effective one.
    function getGrant(bytes32 grantId) external view returns (Grant memory) {
        return _existing(grantId);
    }

    function datasetOwner(bytes32 datasetId) external view returns (address) {
        return _datasets[datasetId].owner;
    }

    function getDataset(bytes32 datasetId) external view returns (Dataset memory) {
        Dataset storage d = _datasets[datasetId];
        if (d.owner == address(0)) revert UnknownDataset(datasetId);
        return d;
    }

    function datasetCount() external view returns (uint256) {
        return _datasetIds.length;
    }

    function datasetIds(uint256 offset, uint256 limit) external view returns (bytes32[] memory page, uint256 total) {
        return _page(_datasetIds, offset, limit);
    }

    function grantsByDataset(bytes32 datasetId, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory page, uint256 total)
    {
        return _page(_byDataset[datasetId], offset, limit);
    }

    function grantsByGrantor(address grantor, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory page, uint256 total)
    {
        return _page(_byGrantor[grantor], offset, limit);
    }

    function grantsByGrantee(address grantee, uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory page, uint256 total)
    {
        return _page(_byGrantee[grantee], offset, limit);
    }

    // ---------------------------------------------------------------- EIP-712

    function domainSeparator() public view returns (bytes32) {
        return keccak256(abi.encode(DOMAIN_TYPEHASH, NAME_HASH, VERSION_HASH, block.chainid, address(this)));
    }

    /// The grant id of an offer: the EIP-712 digest the grantor signs.
    function hashOffer(GrantOffer calldata offer) public view returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(
                OFFER_TYPEHASH,
                offer.datasetId,
                offer.grantor,
                offer.grantee,
                offer.purposeCode,
                offer.purposeHash,
                offer.fieldScope,
                offer.validFrom,
                offer.validUntil,
                offer.accessQuota,
                offer.conditionsHash,
                offer.salt
            )
        );
        return _digest(structHash);
    }

    /// The EIP-712 digest the grantee signs to accept `grantId`.
    function hashAcceptance(bytes32 grantId) public view returns (bytes32) {
        return _digest(keccak256(abi.encode(ACCEPTANCE_TYPEHASH, grantId)));
    }

    // ---------------------------------------------------------------- internals

    function _offer(GrantOffer calldata offer, bytes calldata grantorSig) private returns (bytes32 grantId) {
        grantId = hashOffer(offer);
        if (_grants[grantId].status != GrantStatus.None) revert GrantExists(grantId);
        _checkSigner(grantId, grantorSig, offer.grantor);
        _checkOfferTerms(offer);
        Grant storage g = _grants[grantId];
        g.datasetId = offer.datasetId;
        g.grantor = offer.grantor;
        g.validFrom = offer.validFrom;
        g.accessQuota = offer.accessQuota;
        g.grantee = offer.grantee;
        g.validUntil = offer.validUntil;
        g.purposeCode = offer.purposeCode;
        g.purposeHash = offer.purposeHash;
        g.fieldScope = offer.fieldScope;
        g.conditionsHash = offer.conditionsHash;
        g.status = GrantStatus.Offered;
        _byDataset[offer.datasetId].push(grantId);
        _byGrantor[offer.grantor].push(grantId);
        _byGrantee[offer.grantee].push(grantId);
        emit GrantOffered(grantId, offer.datasetId, offer.grantor, offer);
    }

    function _checkOfferTerms(GrantOffer calldata offer) private view {
        Dataset storage d = _datasets[offer.datasetId];
        if (d.owner == address(0)) revert UnknownDataset(offer.datasetId);
        if (offer.grantor != d.owner) revert NotDatasetOwner(offer.datasetId, offer.grantor, d.owner);
        _requireRole(offer.grantor, Roles.GRANTOR);
        _requireRole(offer.grantee, Roles.GRANTEE);
        if (offer.grantee == offer.grantor) revert SelfGrant(offer.grantor);
        if (offer.purposeCode == bytes32(0)) revert EmptyPurpose();
        if (offer.fieldScope == 0) revert EmptyFieldScope();
        if (d.fieldCount < MAX_FIELDS && offer.fieldScope >> d.fieldCount != 0) {
            revert FieldScopeTooWide(offer.datasetId, offer.fieldScope, d.fieldCount);
        }
        if (offer.validFrom >= offer.validUntil) revert InvalidValidity(offer.validFrom, offer.validUntil);
        if (offer.validUntil <= block.timestamp) revert OfferExpired(offer.validUntil, block.timestamp);
        if (offer.accessQuota == 0) revert ZeroQuota();
    }

    function _accept(bytes32 grantId, Grant storage g, bytes calldata granteeSig) private {
        _checkSigner(hashAcceptance(grantId), granteeSig, g.grantee);
        _requireRole(g.grantee, Roles.GRANTEE);
        g.status = GrantStatus.Accepted;
        emit GrantAccepted(grantId, g.datasetId, g.grantee);
    }

    /// ecrecover with the checks it lacks: 65 bytes, v in {27, 28}, low s (no malleable twins).
    function _checkSigner(bytes32 digest, bytes calldata signature, address expected) private pure {
        if (signature.length != 65) revert BadSignatureLength(signature.length);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v != 27 && v != 28) revert BadSignatureV(v);
        if (uint256(s) > MAX_S) revert BadSignatureS(s);
        address recovered = ecrecover(digest, v, r, s);
        if (recovered == address(0) || recovered != expected) revert WrongSigner(digest, expected, recovered);
    }

    function _digest(bytes32 structHash) private view returns (bytes32) {
        return keccak256(abi.encodePacked(hex"1901", domainSeparator(), structHash));
    }

    function _requireRole(address agency, uint8 role) private view {
        if (!consortium.hasRole(agency, role)) revert MissingRole(agency, role);
    }

    function _existing(bytes32 grantId) private view returns (Grant storage g) {
        g = _grants[grantId];
        if (g.status == GrantStatus.None) revert UnknownGrant(grantId);
    }

    function _page(bytes32[] storage ids, uint256 offset, uint256 limit)
        private
        view
        returns (bytes32[] memory page, uint256 total)
    {
        if (limit == 0) revert InvalidPage(limit);
        total = ids.length;
        if (offset >= total) return (new bytes32[](0), total);
        uint256 end = limit > total - offset ? total : offset + limit;
        page = new bytes32[](end - offset);
        for (uint256 i = offset; i < end; ++i) {
            page[i - offset] = ids[i];
        }
    }
}
